"""The degradation lab's run never outlives the app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import ROOT


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: only its exit status is left for its parent to collect)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(
    ("sig", "paused", "context"),
    [(signal.SIGKILL, False, "spawn"), (signal.SIGKILL, True, "spawn"), (signal.SIGTERM, False, "spawn"),
     (signal.SIGKILL, True, "forkserver")],
    ids=["killed", "killed-while-paused", "terminated", "forkserver-killed-while-paused"],
)
def test_the_run_and_its_helper_die_with_the_app(sig, paused, context):
    args = [sys.executable, "-m", "tests.lab_parent", "--context", context] + (["--paused"] if paused else [])
    parent = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = []
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read()
        started = json.loads(line)
        pids = [started["child"], *started["helpers"]]
        assert started["helpers"], "multiprocessing's helper (resource tracker, fork server) should be running"
        assert all(_alive(pid) for pid in pids)
        os.kill(parent.pid, sig)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "outlived the app"
    finally:
        for pid in [parent.pid, *pids]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # only processes this test started
        parent.wait(timeout=30)
