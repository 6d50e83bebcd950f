"""Value types shared by the verification engine, the CLI, the language server and training.

Everything here is plain data (dataclasses and enums), cheap to import, and free of torch.
A caller may rely on :meth:`OptimizationReport.to_json` producing the documented JSON schema
(see ``docs/report-schema.md``) and on the verdict words never changing.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perfrl.engine.evidence import Evidence


class PerfRLError(Exception):
    """A problem with the user's input or environment, worded for the user.

    The message says what is wrong and how to fix it. The CLI prints it and exits with 2;
    the language server shows it with ``window/showMessage``.
    """


class TargetNotFound(PerfRLError):
    """The file, the function or the position does not name a function we can optimize."""


class UnsupportedTarget(PerfRLError):
    """The function exists but is of a kind we refuse (for example a generator)."""


class NoTestsCallFunction(PerfRLError):
    """No test of the project calls the target function, so nothing can be verified."""


class BaselineFailed(PerfRLError):
    """The project's tests could not be run on the original code at all."""


class Verdict(str, enum.Enum):
    """The one-word outcome for a candidate. Values are part of the JSON schema."""

    FASTER = "faster"
    NOT_FASTER = "not_faster"
    FAILED_TESTS = "failed_tests"
    NOT_EQUIVALENT = "not_equivalent"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INVALID = "invalid"


@dataclass(frozen=True)
class FunctionTarget:
    """A function or method located in a user's file, with its exact source.

    Lines are 1-based and inclusive; ``start_line`` is the first decorator's line (or the
    ``def`` line when there is none). ``source`` is exactly the text of those lines, with
    the original indentation. ``module_name`` is importable with ``import_root`` on sys.path.
    """

    path: Path
    project_root: Path
    import_root: Path
    module_name: str
    qualname: str
    source: str
    start_line: int
    end_line: int
    def_line: int
    indent: str
    is_method: bool
    method_kind: str  # "function", "method", "staticmethod", "classmethod", "property"
    is_async: bool
    is_generator: bool
    file_text: str

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def relpath(self) -> str:
        return self.path.relative_to(self.project_root).as_posix()

    @property
    def display(self) -> str:
        """``path/to/mod.py::Qualname``, relative to the project root."""
        return f"{self.relpath}::{self.qualname}"


@dataclass(frozen=True)
class Candidate:
    """A proposed rewrite of one function.

    ``code`` is the complete function (decorators included), dedented to column 0.
    ``source`` names the candidate source ("file", "rules", "model"); ``label`` says which
    one, for humans (a path, a rule code, "sample 3").
    """

    source: str
    label: str
    code: str


@dataclass
class TestCounts:
    run: int = 0
    passed: int = 0


@dataclass
class CallTiming:
    """Median time of one captured call under each implementation, in nanoseconds."""

    call_index: int
    original_ns: float
    candidate_ns: float
    #: Calls per timed block, one entry per benchmark process (each calibrates on its own).
    original_loops: list[int] = field(default_factory=list)
    candidate_loops: list[int] = field(default_factory=list)
    #: True for an input generated from the recorded ones (``call_index`` then counts those).
    generated: bool = False


@dataclass
class SpeedupEstimate:
    """Speedup = original time / candidate time, as a ratio of medians.

    ``low``/``high`` bound the 95% bootstrap confidence interval. ``rounds`` is the number
    of interleaved A/B rounds measured.
    """

    median: float
    low: float
    high: float
    original_ns: float
    candidate_ns: float
    rounds: int
    per_call: list[CallTiming] = field(default_factory=list)


@dataclass
class CandidateResult:
    candidate: Candidate
    verdict: Verdict
    reason: str
    tests: TestCounts = field(default_factory=TestCounts)
    calls_compared: int = 0
    speedup: SpeedupEstimate | None = None
    diff: str = ""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: Inputs generated from the recorded ones on which this candidate was compared with the
    #: original (0 when no generator ran).
    generated_inputs: int = 0
    #: Why the candidate counts as keeping state across calls ("" when nothing showed it).
    stateful: str = ""
    #: What the candidate reaches for beyond the function ("" when nothing showed it): the
    #: clock, the built-ins, frames, files (perfrl.engine.tampering); never "faster" then.
    tampering: str = ""

    def to_json(self) -> dict:
        return {
            "source": self.candidate.source,
            "label": self.candidate.label,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "tests": {"run": self.tests.run, "passed": self.tests.passed},
            "calls_compared": self.calls_compared,
            "speedup": None
            if self.speedup is None
            else {
                "median": self.speedup.median,
                "low": self.speedup.low,
                "high": self.speedup.high,
                "original_ns": self.speedup.original_ns,
                "candidate_ns": self.speedup.candidate_ns,
                "rounds": self.speedup.rounds,
                "per_call": [asdict(t) for t in self.speedup.per_call],
            },
            "code": self.candidate.code,
            "diff": self.diff,
            "stage_seconds": self.stage_seconds,
            "generated_inputs": self.generated_inputs,
            "stateful": self.stateful,
            "tampering": self.tampering,
        }


@dataclass
class BaselineSummary:
    """What the run of the project's tests on the original code found."""

    tests_calling: int
    tests_failing_on_original: list[str]
    calls_captured: int
    calls_skipped: int
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    from_cache: bool = False
    seconds: float = 0.0
    #: Recorded calls whose arguments differ from one another (the evidence's real size).
    calls_distinct: int = 0
    #: Test files holding the tests that call the function.
    test_files_calling: int = 0
    #: Calling tests that contributed at least one recorded call.
    tests_recorded: int = 0


@dataclass
class OptimizationReport:
    function: str
    original_source: str
    candidates: list[CandidateResult]
    best: int | None
    baseline: BaselineSummary | None
    threshold: float
    warnings: list[str] = field(default_factory=list)
    protections: list[str] = field(default_factory=list)
    #: One short line for terminals (the sandbox's ``protections_summary``).
    protections_summary: str = ""
    #: What the sandbox could not provide on this machine (cgroups, a disk quota, ...).
    missing_protections: list[str] = field(default_factory=list)
    #: What the verdicts rest on (tests, recorded calls, generated inputs); None without a
    #: baseline.
    evidence: Evidence | None = None
    #: Sources' own accounts of their work (outputs drawn, kept, dropped and why).
    notes: list[str] = field(default_factory=list)

    def best_result(self) -> CandidateResult | None:
        return None if self.best is None else self.candidates[self.best]

    def to_json(self) -> dict:
        return {
            "schema": "perfrl.report/1",
            "function": self.function,
            "original_source": self.original_source,
            "threshold": self.threshold,
            "baseline": None if self.baseline is None else asdict(self.baseline),
            "candidates": [c.to_json() for c in self.candidates],
            "best": self.best,
            "warnings": list(self.warnings),
            "protections": list(self.protections),
            "protections_summary": self.protections_summary,
            "missing_protections": list(self.missing_protections),
            "evidence": None if self.evidence is None else self.evidence.to_json(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ProgressEvent:
    """A step of a long job. ``done``/``total`` are set when the step is countable."""

    stage: str  # "baseline", "generating", "testing", "benchmarking", "done"
    message: str
    done: int | None = None
    total: int | None = None


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Set by the caller to stop a job; sandbox runs poll it and kill their process group."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class Cancelled(Exception):
    """Raised inside the engine when a CancelToken was set; callers report 'cancelled'."""
