"""``perfrl-train`` turns every user-facing error of the pipeline into a message and exit 2.

Issue 15 found ``perfrl-train eval --out X`` printing an ``EvalError`` traceback and exiting 1,
because the CLI listed 7 of the package's 17 exception classes by hand.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import perfrl_train
from perfrl_train.errors import PerfRLError

#: Exceptions that are not about the user's input: internal control flow and invariants.
INTERNAL = {
    "RewardBudgetExhausted": "control flow inside RRHF's reward, never reaches the CLI",
    "SplitLeakError": "an invariant of the data builder (evaluation data in training)",
    "ExecutionError": "a worker of the data builder died; a bug or a resource limit",
    "InputSpecError": "an idiom template's own inputs are malformed; a bug in the catalogue",
    "_CallTimeout": "the data worker's per-call alarm, caught inside the worker",
}


def _pipeline_exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a perfrl_train module that imports here (modules
    that need the training extra are checked where it is installed)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(perfrl_train.__path__, "perfrl_train."):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if exc.name in {"torch", "transformers", "optimum", "onnx", "accelerate"}:
                continue
            raise
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__):
                found[name] = obj
    return found


def test_every_user_facing_error_of_the_pipeline_is_a_perfrl_error():
    classes = _pipeline_exception_classes()
    assert "EvalError" in classes and "PieFormatError" in classes
    outside = sorted(name for name, cls in classes.items()
                     if not issubclass(cls, PerfRLError) and name not in INTERNAL)
    assert outside == [], f"derive these from perfrl_train.errors.PerfRLError: {outside}"


def test_eval_without_a_model_exits_2_with_a_message_not_a_traceback(tmp_path):
    exe = shutil.which("perfrl-train") or str(Path(sys.executable).parent / "perfrl-train")
    out = subprocess.run([exe, "eval", "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip() == "perfrl-train eval: give at least one --model NAME=PATH"
