"""The durable-rules definitions of moments stay inside what its C engine reads safely.

durable-rules 2.0.28 steps one test too far when a test of an ``$and`` is false, so a
false last test reads past the group's expression list: a crash of the moments worker or
a wrong match, depending on memory layout (see rulesets._join). Every joining term must
therefore end with a test that holds whenever the ones before it do; under valgrind the
engine then reads no memory it does not own while testing them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from treatment_engine.moments.rulesets import TICK, StepSpec, deadline_fields, definition

DAY = 86_400.0
REPEAT = (StepSpec("complaint", False, 1, None, False), StepSpec("complaint", False, 1, 30 * 86_400, False))
THREE = (StepSpec("complaint", False, 3, 7 * 86_400, False),)
STALLED = (StepSpec("order", False, 1, None, False), StepSpec("installed", False, 1, 14 * 86_400, True))
WITH_IF = (StepSpec("survey", True, 1, None, False), StepSpec("complaint", True, 2, 3 * 86_400, False),
           StepSpec("refund", False, 1, 86_400, True))


def _references(test: dict[str, Any]) -> bool:
    """Whether a test compares with an earlier event's field (``{"cid": {"e0": "cid"}}``)."""
    return any(isinstance(v, dict) and (any(isinstance(x, dict) for x in v.values()) or _references(v))
               for v in test.values())


def _implied(guard: dict[str, Any], before: list[dict[str, Any]]) -> bool:
    """``{"$gte": {f: ref}}`` after ``{"$gt": {f: ref}}``: true whenever the earlier test is."""
    return "$gte" in guard and {"$gt": guard["$gte"]} in before


@pytest.mark.parametrize("steps", [REPEAT, THREE, STALLED, WITH_IF], ids=["repeat", "three", "stalled", "with-if"])
def test_every_joining_term_ends_with_a_test_the_others_imply(steps: tuple[StepSpec, ...]) -> None:
    for term in definition(steps, print)["r_0"]["all"]:
        [(name, test)] = term.items()
        tests = test.get("$and", [test])
        if not any(_references(t) for t in tests):
            continue  # no join: durable-rules tests it on the event alone
        assert _implied(tests[-1], tests[:-1]), (name, tests)


def _message(seq: int, kind: str, ts: float, steps: tuple[StepSpec, ...], **flags: bool) -> dict[str, Any]:
    return {"sid": "0", "id": seq, "cid": "a", "t": kind, "seq": seq, "ts": ts,
            **deadline_fields(steps, ts), **flags}


# One python under valgrind imports durable-rules once and forks a child for each scenario
# (valgrind starting python and durable-rules costs ~9 s of CPU, a scenario almost nothing).
# A child starts from the imported engine with no ruleset made yet, as a process of its own
# did: in one process, a ruleset made before reads differently (two of the four edges no
# longer showed an invalid read without the guard). A marker line before each scenario,
# written to valgrind's log descriptor, tells which scenario a report came from: valgrind
# writes each report as it finds the error.
POSTER = """
import json, os, sys
import durable.engine as durable

class QuietHost(durable.Host):
    def _run(self):
        pass

def post(rule, messages):
    fired = []
    rule["r_0"]["run"] = lambda c: fired.append(1)  # one argument: durable-rules counts them
    host = QuietHost({"moment": rule})
    for message in messages:
        try:
            host.post("moment", message)
        except durable.MessageNotHandledException:
            pass
    return len(fired)

log_fd = int(sys.argv[1])
outcomes = {}
for name, rule, messages in json.loads(sys.stdin.read()):
    os.write(log_fd, ("%s%s\\n" % (MARK, name)).encode())
    child = os.fork()
    if child == 0:
        os._exit(post(rule, messages))
    status = os.waitpid(child, 0)[1]
    outcomes[name] = os.waitstatus_to_exitcode(status)  # fires, or minus the signal that ended it
print(json.dumps(outcomes))
"""
MARK = "== scenario: "

SCENARIOS = {  # the window edges, where a join's last test is false
    "repeat, 1 s outside": (REPEAT, [("complaint", 0.0), ("complaint", 30 * DAY + 1)], 0),
    "three, a moment outside": (THREE, [("complaint", 0.0), ("complaint", 3 * DAY), ("complaint", 7.0001 * DAY)], 0),
    "stalled, tick before the deadline": (STALLED, [("order", 0.0), (TICK, 14 * DAY - 1)], 0),
    "stalled, installed too late": (STALLED, [("order", 0.0), ("installed", 15 * DAY), (TICK, 14 * DAY + 0.001)], 1),
}


@pytest.fixture(scope="module")
def window_edges(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], dict[str, str], str]:
    """Every scenario posted under valgrind: (fires by scenario, valgrind's report by
    scenario, python's stderr); the fires are empty when the run failed."""
    scenarios = []
    for name, (steps, events, _) in SCENARIOS.items():
        rule = definition(steps, print)
        rule["r_0"]["run"] = None  # set again in the child: a function does not cross as JSON
        scenarios.append([name, rule, [_message(seq, kind, ts, steps) for seq, (kind, ts) in enumerate(events, 1)]])
    log = tmp_path_factory.mktemp("valgrind") / "valgrind.txt"
    with open(log, "wb") as stream:
        fd = stream.fileno()
        run = subprocess.run(["valgrind", "-q", f"--log-fd={fd}", sys.executable, "-c",
                              f"MARK = {MARK!r}\n" + POSTER, str(fd)],
                             input=json.dumps(scenarios), capture_output=True, text=True, timeout=240,
                             env={**os.environ, "PYTHONMALLOC": "malloc"}, pass_fds=(fd,))
    reports = dict.fromkeys(SCENARIOS, "")
    for section in log.read_text(errors="replace").split(MARK)[1:]:
        name, _, report = section.partition("\n")
        reports[name] = report
    return (json.loads(run.stdout) if run.returncode == 0 else {}), reports, run.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_durable_rules_reads_only_its_own_memory_at_the_window_edges(
        window_edges: tuple[dict[str, int], dict[str, str], str], scenario: str) -> None:
    fired, reports, stderr = window_edges
    assert scenario in fired, stderr
    assert fired[scenario] == SCENARIOS[scenario][2]
    assert _errors_in_durable_rules(reports[scenario]) == []


def _errors_in_durable_rules(report: str) -> list[str]:
    """valgrind's reports of reads or writes outside owned memory, and of anything inside
    the expression walk this guards, raised in durable-rules' C engine. (It also reads
    uninitialised memory when it deletes a fired match, deleteMessageFromFrame, which the
    definitions cannot avoid: not counted.)"""
    found = []
    for block in report.split("== \n"):
        lines = [line.split("== ", 1)[-1].strip() for line in block.splitlines()]
        frames = [line for line in lines if line.startswith(("at ", "by "))]
        if not frames or "durable_rules_engine" not in frames[0]:
            continue
        if any(line.startswith(("Invalid read", "Invalid write")) for line in lines) \
                or "reduceExpressionSequence" in frames[0]:
            found.append("\n".join(lines))
    return found
