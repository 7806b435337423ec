"""Journeys (appendix J): each rule of a run on hand-written histories, on the reference and
on DuckDB alike, and the plan errors of a journey, each at its place."""

from __future__ import annotations

import pytest

from treatment_engine.journeys.reference import runs
from treatment_engine.journeys.sql import duckdb_runs

from .journey_plans import DAY, RunsOf, events, journey

BACK_ENDS = {"reference": runs, "duckdb": duckdb_runs}
INSTALL = {"within": "30d", "steps": [{"event": "signed_up"},
                                      {"event": "booked", "optional": True, "within": "3d"},
                                      {"event": "installed", "within": "10d"}]}


@pytest.fixture(params=sorted(BACK_ENDS))
def runs_of(request: pytest.FixtureRequest) -> RunsOf:
    return BACK_ENDS[request.param]


def outcome(runs_of: RunsOf, written: dict, raw: list, as_of: float) -> list[tuple]:
    compiled = journey(**written)
    return [(r.customer_id, r.number, r.status, r.success, r.reached)
            for r in runs_of(compiled, events(compiled, raw), as_of)]


def test_in_order_passes_over_other_events(runs_of: RunsOf) -> None:
    raw = [("a", "signed_up", 0), ("a", "signed_up_again", 1), ("a", "installed", 2), ("a", "booked", 3),
           ("a", "installed", 5)]
    # the second `installed` comes after the run completed; the booking after installing is not a step
    assert outcome(runs_of, INSTALL, raw, 100 * DAY) == [("a", 1, "completed", True, (0, None, 2))]


def test_consecutive_breaks_on_another_step_type_event_not_on_unrelated_ones(runs_of: RunsOf) -> None:
    written = {**INSTALL, "order": "consecutive",
               "steps": [{"event": "signed_up"}, {"event": "booked", "within": "3d"},
                         {"event": "installed", "within": "10d", "if": "ok == true"}]}
    raw = [("a", "signed_up", 0), ("a", "complaint", 1), ("a", "booked", 2), ("a", "installed", 3, {"ok": True}),
           ("b", "signed_up", 0), ("b", "installed", 1, {"ok": False}), ("b", "booked", 2),
           ("b", "installed", 3, {"ok": True})]
    assert outcome(runs_of, written, raw, 100 * DAY) == [
        ("a", 1, "completed", True, (0, 2, 3)),
        ("b", 1, "abandoned", False, (0, None, None))]  # a failed installation came between


def test_optional_steps_may_be_taken_or_skipped(runs_of: RunsOf) -> None:
    raw = [("skips", "signed_up", 0), ("skips", "installed", DAY),
           ("takes", "signed_up", 0), ("takes", "booked", DAY), ("takes", "installed", 2 * DAY),
           # booked too late for its 3d: passed over, and installation still comes in its 10d
           ("late", "signed_up", 0), ("late", "booked", 4 * DAY), ("late", "installed", 5 * DAY)]
    assert outcome(runs_of, INSTALL, raw, 100 * DAY) == [
        ("late", 1, "completed", True, (0, None, 5 * DAY)),
        ("skips", 1, "completed", True, (0, None, DAY)),
        ("takes", 1, "completed", True, (0, DAY, 2 * DAY))]


def test_the_window_of_a_step_includes_its_last_instant(runs_of: RunsOf) -> None:
    raw = [("edge", "signed_up", 0), ("edge", "installed", 10 * DAY),
           ("over", "signed_up", 0), ("over", "installed", 10 * DAY + 1)]
    assert outcome(runs_of, INSTALL, raw, 100 * DAY) == [
        ("edge", 1, "completed", True, (0, None, 10 * DAY)),
        ("over", 1, "abandoned", False, (0, None, None))]


def test_the_window_of_the_whole_journey_includes_its_last_instant(runs_of: RunsOf) -> None:
    written = {"within": "4d", "steps": [{"event": "signed_up"}, {"event": "booked", "within": "3d"},
                                         {"event": "installed", "within": "3d"}]}
    raw = [("edge", "signed_up", 0), ("edge", "booked", 2 * DAY), ("edge", "installed", 4 * DAY),
           ("over", "signed_up", 0), ("over", "booked", 2 * DAY), ("over", "installed", 4 * DAY + 1)]
    assert outcome(runs_of, written, raw, 100 * DAY) == [
        ("edge", 1, "completed", True, (0, 2 * DAY, 4 * DAY)),
        ("over", 1, "abandoned", False, (0, 2 * DAY, None))]


def test_a_run_whose_window_is_open_is_in_progress_never_a_failure(runs_of: RunsOf) -> None:
    raw = [("a", "signed_up", 0)]
    assert outcome(runs_of, INSTALL, raw, 10 * DAY - 1) == [("a", 1, "in_progress", None, (0, None, None))]
    # at the deadline every event up to it is known: the window has closed
    assert outcome(runs_of, INSTALL, raw, 10 * DAY) == [("a", 1, "abandoned", False, (0, None, None))]


def test_an_optional_step_keeps_a_run_open_only_as_long_as_the_required_one_could_come(runs_of: RunsOf) -> None:
    written = {"within": "30d", "steps": [{"event": "signed_up"}, {"event": "booked", "optional": True,
                                                                   "within": "10d"},
                                          {"event": "installed", "within": "2d"}]}
    raw = [("a", "signed_up", 0)]
    assert outcome(runs_of, written, raw, 5 * DAY)[0][2] == "in_progress"  # a booking may still come
    assert outcome(runs_of, written, raw, 10 * DAY)[0][2] == "abandoned"


def test_runs_repeat_after_completion_after_abandonment_and_on_a_new_start(runs_of: RunsOf) -> None:
    raw = [("a", "signed_up", 0), ("a", "installed", DAY),  # 1: completed
           ("a", "signed_up", 20 * DAY),  # 2: abandoned (no installation in 10 days)
           ("a", "signed_up", 40 * DAY), ("a", "signed_up", 41 * DAY),  # 3: ended by 4, which starts again
           ("a", "installed", 42 * DAY)]
    assert outcome(runs_of, INSTALL, raw, 100 * DAY) == [
        ("a", 1, "completed", True, (0, None, DAY)),
        ("a", 2, "abandoned", False, (20 * DAY, None, None)),
        ("a", 3, "abandoned", False, (40 * DAY, None, None)),
        ("a", 4, "completed", True, (41 * DAY, None, 42 * DAY))]


AFTER = {**INSTALL, "success": {"after": {"within": "30d", "none": [{"event": "complaint"}, {"event": "churned"}],
                                          "require": [{"event": "survey", "if": "score >= 8"}]}}}


def test_success_needs_the_required_events_and_none_of_the_forbidden_within_the_window(runs_of: RunsOf) -> None:
    raw = [("ok", "signed_up", 0), ("ok", "installed", DAY), ("ok", "survey", 2 * DAY, {"score": 9}),
           ("ok", "complaint", 31 * DAY + 1),  # one second after the window
           ("edge", "signed_up", 0), ("edge", "installed", DAY), ("edge", "survey", 2 * DAY, {"score": 8}),
           ("edge", "churned", 31 * DAY),  # exactly at the window's end: inside
           ("low", "signed_up", 0), ("low", "installed", DAY), ("low", "survey", 2 * DAY, {"score": 7}),
           ("none", "signed_up", 0), ("none", "installed", DAY)]
    got = {r[0]: r[3] for r in outcome(runs_of, AFTER, raw, 100 * DAY)}
    assert got == {"ok": True, "edge": False, "low": False, "none": False}


def test_success_is_undecided_until_its_window_closes(runs_of: RunsOf) -> None:
    raw = [("a", "signed_up", 0), ("a", "installed", DAY), ("a", "survey", 2 * DAY, {"score": 10})]
    assert outcome(runs_of, AFTER, raw, 31 * DAY - 1) == [("a", 1, "completed", None, (0, None, DAY))]
    assert outcome(runs_of, AFTER, raw, 31 * DAY) == [("a", 1, "completed", True, (0, None, DAY))]


def test_only_events_after_the_last_step_count_for_success_equal_times_in_input_order(runs_of: RunsOf) -> None:
    raw = [("before", "signed_up", 0), ("before", "survey", DAY, {"score": 9}), ("before", "installed", DAY),
           ("after", "signed_up", 0), ("after", "installed", DAY), ("after", "survey", DAY, {"score": 9})]
    got = {r[0]: r[3] for r in outcome(runs_of, AFTER, raw, 100 * DAY)}
    assert got == {"before": False, "after": True}


def test_a_step_if_reads_the_event_fields(runs_of: RunsOf) -> None:
    written = {**INSTALL, "steps": [{"event": "signed_up", "if": "plan != 'trial'"},
                                    {"event": "installed", "within": "10d", "if": "first_time_right == true"}]}
    raw = [("trial", "signed_up", 0, {"plan": "trial"}), ("trial", "installed", DAY, {"first_time_right": True}),
           ("paid", "signed_up", 0, {"plan": "fibre"}), ("paid", "installed", DAY, {"first_time_right": False}),
           ("paid", "installed", 2 * DAY, {"first_time_right": True})]
    assert outcome(runs_of, written, raw, 100 * DAY) == [("paid", 1, "completed", True, (0, 2 * DAY))]
