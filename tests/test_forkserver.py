"""The test fork server (tests/forkserver.py) reports a child's own exit status, and never
makes one up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .forkserver import Forked, _fork_server, start_treatment


def test_a_forked_command_exits_with_its_own_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREATMENT_TEST_NO_FORK", raising=False)
    log = tmp_path / "stderr.txt"
    child = start_treatment(["serve", "--port", "not-a-port"], log, env={"PATH": "/usr/bin:/bin"})
    assert isinstance(child, Forked)
    assert child.wait(timeout=30) == 2, log.read_text()  # click's usage error
    assert "not-a-port" in log.read_text()


def test_polling_a_process_that_is_no_child_of_the_fork_server_is_an_error_not_a_success() -> None:
    """waitpid's ChildProcessError (the process is not the server's child, or was reaped
    elsewhere) was reported as exit status 0: a server harness waiting for a clean exit saw
    one it never had. (The test process itself is such a process.)"""
    parent = os.getpid()  # the fork server's parent, never its child
    with pytest.raises(RuntimeError, match=f"process {parent} is no child of the fork server"):
        Forked(_fork_server(), parent).poll()
