"""The server's last sweep (perfrl.lsp.descendants): nothing it started outlives it, even a
process tree that keeps forking while it is killed (stop 27's CI saw one child of a job that
was still preparing outlive the server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.process_tree import processes_with

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")


def test_a_tree_that_keeps_forking_is_killed_whole(tmp_path: Path):
    """Two shells forking a sleeper every few milliseconds (one under a second shell): the
    process that sweeps kills them all, and none is alive when it has returned, none left
    orphaned under init."""
    marker = f"perfrl-sweep-{uuid.uuid4().hex[:12]}"
    # The sleepers run as a link named after the marker, so an escaped one is found by name.
    sleeper = tmp_path / marker
    sleeper.symlink_to(subprocess.run(["sh", "-c", "command -v sleep"], capture_output=True,
                                      text=True, check=True).stdout.strip())
    assert subprocess.run([str(sleeper), "0"], check=False).returncode == 0
    forker = f"while :; do {sleeper} 300 & sleep 0.005; done"
    program = textwrap.dedent(f"""
        import json, os, subprocess, time
        from perfrl.lsp.descendants import descendants, kill_descendants
        quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen(["sh", "-c", {forker!r}], **quiet)
        subprocess.Popen({["sh", "-c", 'sh -c "$1"', "sh", forker]!r}, **quiet)
        time.sleep(1.0)
        before = len(descendants(os.getpid()))
        killed = kill_descendants()
        print(json.dumps({{"before": before, "killed": len(killed)}}), flush=True)
        os._exit(0)
    """)
    try:
        run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                             timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        counts = json.loads(run.stdout)
        assert counts["before"] >= 5, counts  # the tree was there and forking
        assert counts["killed"] >= counts["before"], counts
        assert processes_with(marker) == [], "sleepers outlived the sweep"
    finally:
        for pid in processes_with(marker):
            os.kill(pid, 9)
