"""Issue 12, finding 12: thin tests let a wrong quoting rewrite through; generated inputs don't.

A project with a boltons-like ``args2cmd`` (Windows command-line quoting) and one thin test
making 3 calls. The real capture plugin records the calls in a real pytest run; then, in a
plain subprocess of the real interpreter, the original and two rewrites run on the recorded
calls and on ``perfrl_inputs.generate_inputs`` of them: the rewrite that forgets to double
trailing backslashes inside quotes agrees on every recorded call and differs on generated
ones, while an honest rewrite agrees on all of them (no false alarm).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from perfrl.engine.baseline import RUNTIME_DIR

ORIGINAL = r'''
def args2cmd(args, sep=" "):
    """Quote ``args`` the way the Microsoft C runtime parses a command line."""
    result = []
    for arg in args:
        bs_buf = []
        if result:
            result.append(sep)
        needquote = (" " in arg) or ("\t" in arg) or not arg
        if needquote:
            result.append('"')
        for c in arg:
            if c == "\\":
                bs_buf.append(c)
            elif c == '"':
                result.append("\\" * len(bs_buf) * 2)
                bs_buf = []
                result.append('\\"')
            else:
                if bs_buf:
                    result.extend(bs_buf)
                    bs_buf = []
                result.append(c)
        if bs_buf:
            result.extend(bs_buf)
        if needquote:
            result.extend(bs_buf)
            result.append('"')
    return "".join(result)
'''

THIN_TEST = r"""
from cmdline.quoting import args2cmd


def test_args2cmd():
    assert args2cmd(["ls", "-l"]) == "ls -l"
    assert args2cmd(["echo", "hello world"]) == 'echo "hello world"'
    assert args2cmd(["say", 'a"b']) == 'say a\\"b'
"""

# Faster (regular expressions instead of a loop over characters), and wrong: inside quotes,
# trailing backslashes must be doubled or they escape the closing quote.
WRONG_REWRITE = r"""
import re

_BACKSLASHES_BEFORE_QUOTE = re.compile(r'(\\*)"')


def args2cmd(args, sep=" "):
    parts = []
    for arg in args:
        escaped = _BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2 + '\\"', arg)
        if not arg or " " in arg or "\t" in arg:
            escaped = '"' + escaped + '"'
        parts.append(escaped)
    return sep.join(parts)
"""

HONEST_REWRITE = r"""
import re

_BACKSLASHES_BEFORE_QUOTE = re.compile(r'(\\*)"')
_TRAILING_BACKSLASHES = re.compile(r"(\\+)$")


def args2cmd(args, sep=" "):
    parts = []
    for arg in args:
        escaped = _BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2 + '\\"', arg)
        if not arg or " " in arg or "\t" in arg:
            escaped = '"' + _TRAILING_BACKSLASHES.sub(r"\1\1", escaped) + '"'
        parts.append(escaped)
    return sep.join(parts)
"""

# Runs in a plain subprocess: the recorded calls are unpickled only there, as in the sandbox.
DRIVER = r"""
import importlib.util, json, pickle, sys

runtime, project, capture, rewrite_path = sys.argv[1:5]
sys.path[:0] = [runtime, project]
from perfrl_inputs import generate_inputs, original_rejects_input
from cmdline.quoting import args2cmd as original

spec = importlib.util.spec_from_file_location("rewrite", rewrite_path)
rewrite_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rewrite_module)
rewrite = rewrite_module.args2cmd

with open(capture, "rb") as handle:
    payload = pickle.load(handle)
recorded = [pickle.loads(call["args"]) for call in payload["calls"]]


def outcome(func, args, kwargs):
    try:
        return ("return", func(*args, **kwargs))
    except Exception as exc:
        return ("raise", type(exc).__name__, exc)


def differences(calls):
    found, rejected = [], 0
    for args, kwargs in calls:
        expected = outcome(original, args, kwargs)
        if expected[0] == "raise" and original_rejects_input(expected[2]):
            rejected += 1
            continue
        got = outcome(rewrite, args, kwargs)
        if expected[:2] != got[:2]:
            found.append({"args": repr(args), "kwargs": repr(kwargs),
                          "original": repr(expected[:2]), "rewrite": repr(got[:2])})
    return found, rejected


generated = generate_inputs(recorded, 200, 0)
on_recorded, _ = differences(recorded)
on_generated, rejected = differences(generated)
print(json.dumps({
    "recorded": len(recorded),
    "generated": len(generated),
    "rejected": rejected,
    "differ_on_recorded": on_recorded,
    "differ_on_generated": on_generated,
}))
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def _record_calls(project: Path, out_dir: Path) -> Path:
    """Run the project's tests with the real capture plugin; return calls.pkl."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(RUNTIME_DIR), str(project)]),
        "PERFRL_OUT_DIR": str(out_dir),
        "PERFRL_TARGET_MODULE": "cmdline.quoting",
        "PERFRL_TARGET_QUALNAME": "args2cmd",
        "PERFRL_IMPORT_ROOT": str(project),
        "PERFRL_ROOT": str(project),
        "PERFRL_MODE": "capture",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "perfrl_capture",
            "-p",
            "no:cacheprovider",
            f"--rootdir={project}",
            str(project / "tests"),
        ],
        check=False,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["calls_recorded"] == 3, summary
    assert list(summary["calling_tests"]) == ["tests/test_quoting.py::test_args2cmd"]
    return out_dir / "calls.pkl"


def _compare(tmp_path: Path, capture: Path, project: Path, rewrite: str) -> dict:
    rewrite_path = tmp_path / "rewrite.py"
    rewrite_path.write_text(textwrap.dedent(rewrite).lstrip("\n"), encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER,
            str(RUNTIME_DIR),
            str(project),
            str(capture),
            str(rewrite_path),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_generated_inputs_catch_a_rewrite_the_recorded_calls_let_through(tmp_path):
    project = tmp_path / "cmdproject"
    _write(
        project,
        {
            "pyproject.toml": '[project]\nname = "cmdline"\nversion = "0"\n',
            "cmdline/__init__.py": "",
            "cmdline/quoting.py": ORIGINAL,
            "tests/test_quoting.py": THIN_TEST,
        },
    )
    capture = _record_calls(project, tmp_path / "capture")

    wrong = _compare(tmp_path, capture, project, WRONG_REWRITE)
    assert wrong["recorded"] == 3 and wrong["generated"] == 200
    assert wrong["differ_on_recorded"] == []  # the evidence of today's verifier
    assert wrong["differ_on_generated"], "no generated input shows the wrong rewrite"
    # What tells them apart is an argument with a space and a trailing backslash.
    first = wrong["differ_on_generated"][0]
    shown = ast.literal_eval(first["args"])[0]
    assert any((" " in a or "\t" in a or not a) and a.endswith("\\") for a in shown), first

    honest = _compare(tmp_path, capture, project, HONEST_REWRITE)
    assert honest["differ_on_recorded"] == [] and honest["generated"] == 200
    assert honest["differ_on_generated"] == [], honest["differ_on_generated"][:3]
