"""What a journey needs beyond its own shape: the rules of appendix J that read several of
its keys at once, and every ``if`` parsed, each problem located at its key."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..durations import seconds, written
from ..errors import Location, PlanIssue
from ..expressions.ast import Expression
from ..load import Path_, SourceFile
from .model import Journey

# (the file, the path of an `if`, its text) -> the parsed condition, or None after
# recording a located issue; validate supplies it, so every plan expression is parsed
# (and its errors placed) one way.
ParseAt = Callable[[SourceFile, Path_, str], Expression | None]


@dataclass(frozen=True)
class JourneyConditions:
    """A journey's parsed conditions: per step, per `after.none`, per `after.require`."""

    steps: tuple[Expression | None, ...]
    none: tuple[Expression | None, ...] = ()
    require: tuple[Expression | None, ...] = ()


def check_journey(journey: Journey, source: SourceFile, path: Path_, parse_at: ParseAt,
                  issues: list[PlanIssue]) -> JourneyConditions:
    """Record every problem of one journey in ``issues``; its parsed conditions."""
    def issue(where: Path_, code: str, message: str, hint: str | None = None) -> None:
        issues.append(PlanIssue(source.locate(path + where), code, message, hint))

    _check_steps(journey, issue)
    _check_stalls(journey, issue)
    if journey.success.margin is not None and not any(step.target for step in journey.steps):
        issue(("success", "margin"), "no-touchpoint-target",
              f"journey '{journey.id}': 'margin' compares the journey's success rate with its "
              "touchpoints' rates, but no step has a 'target'", "give a step a target: {rate: 0.9}")

    def parsed(where: Path_, text: str | None) -> Expression | None:
        return None if text is None else parse_at(source, path + where, text)

    after = journey.success.after
    return JourneyConditions(
        steps=tuple(parsed(("steps", i, "if"), step.if_) for i, step in enumerate(journey.steps)),
        none=tuple(parsed(("success", "after", "none", i, "if"), match.if_)
                   for i, match in enumerate(after.none if after else ())),
        require=tuple(parsed(("success", "after", "require", i, "if"), match.if_)
                      for i, match in enumerate(after.require if after else ())),
    )


def _check_steps(journey: Journey, issue: Callable[..., None]) -> None:
    steps = journey.steps
    whole = seconds(journey.within)
    if steps[0].optional:
        issue(("steps", 0, "optional"), "optional-end", f"journey '{journey.id}': the first step cannot be "
              "optional: it is where a run starts")
    if steps[-1].optional:
        issue(("steps", len(steps) - 1, "optional"), "optional-end", f"journey '{journey.id}': the last step "
              "cannot be optional: reaching it is what completes a run")
    for key in ("within", "target"):
        if getattr(steps[0], key) is not None:
            issue(("steps", 0, key), "first-step-window", f"journey '{journey.id}': the first step takes no "
                  f"'{key}': it starts the run, there is no step before it to count from",
                  "the whole journey's time is the journey's own 'within'")
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.name in seen:
            issue(("steps", index, "id" if step.id is not None else "event"), "duplicate-id",
                  f"journey '{journey.id}': step '{step.name}' is named twice (steps {seen[step.name] + 1} "
                  f"and {index + 1})", "give one of them an 'id'")
        seen.setdefault(step.name, index)
        step_window = seconds(step.within) if step.within else whole
        if step.within is not None and step_window > whole:
            issue(("steps", index, "within"), "window-too-long",
                  f"journey '{journey.id}': step '{step.name}' allows {step.within}, longer than the whole "
                  f"journey's {journey.within}")
        if step.target is not None and step.target.within is not None \
                and seconds(step.target.within) > step_window:
            issue(("steps", index, "target", "within"), "window-too-long",
                  f"journey '{journey.id}': the target of step '{step.name}' counts arrivals within "
                  f"{step.target.within}, but the step allows only {step.within or journey.within}",
                  "a target's 'within' is at most its step's")


def stall_id(journey: str, step: str) -> str:
    """The moment id a step's ``on_stall`` fires under (the outbox's ``moment``)."""
    return f"{journey}.{step}.stalled"


def _waits_at_most(journey: Journey, index: int) -> int:
    """Seconds a run at step ``index`` can still go on: the longest window of the steps it
    may take next (the following optional ones and the first required one), and never
    past the journey's own ``within``."""
    whole = seconds(journey.within)
    longest = 0
    for step in journey.steps[index + 1:]:
        longest = max(longest, seconds(step.within) if step.within else whole)
        if not step.optional:
            break
    return min(longest, whole)


def _check_stalls(journey: Journey, issue: Callable[..., None]) -> None:
    last = len(journey.steps) - 1
    for index, step in enumerate(journey.steps):
        if step.on_stall is None:
            continue
        if index == last:
            issue(("steps", index, "on_stall"), "stall-at-last-step",
                  f"journey '{journey.id}': the last step cannot stall: reaching it completes the run",
                  "put 'on_stall' on the step the run waits at")
            continue
        waits = _waits_at_most(journey, index)
        if seconds(step.on_stall.after) > waits:
            # A run that has waited this long is abandoned already (appendix J): it would never fire.
            issue(("steps", index, "on_stall", "after"), "stall-never-fires",
                  f"journey '{journey.id}': a run at step '{step.name}' is abandoned after at most "
                  f"{written(waits)} without a next step, so 'after: {step.on_stall.after}' would never fire",
                  "make 'after' at most the next step's 'within', and at most the journey's")


def check_stall_ids(journeys: Iterable[tuple[Journey, SourceFile, Path_]], moments: Mapping[str, Location],
                    issues: list[PlanIssue]) -> None:
    """A stalled step fires as a moment of its own: its id must not be a moment's."""
    for journey, source, path in journeys:
        for index, step in enumerate(journey.steps):
            fired_as = stall_id(journey.id, step.name)
            if step.on_stall is not None and fired_as in moments:
                issues.append(PlanIssue(source.locate(path + ("steps", index, "on_stall")), "duplicate-id",
                                        f"journey '{journey.id}': step '{step.name}' stalls as the moment "
                                        f"'{fired_as}', which is a moment's id (defined at {moments[fired_as]})",
                                        "rename the moment"))
