"""The whole picture before "faster" stands: the best candidate against the project's other tests.

:func:`~perfrl.engine.verify.verify_candidate` runs only the tests that call the function. A
rewrite that sets a module global another function reads, or mutates a shared object, passes
them and breaks the tests of that other code (issue 12, finding 8). Before a candidate is
reported as the best (and so before ``--apply`` or a code action can write it), it also runs
the tests :func:`~perfrl.engine.impacted_tests.choose_scope` picks: the whole suite when the
baseline's run was quick, else the test files that import the target's module.

A caller of :func:`confirm_best` may rely on:

- the returned index naming a candidate whose verdict is ``faster`` and which passed every
  test of that scope that passed on the original code, run in the suite's order in one
  process (so state one test leaves for the next counts, as in the user's own run); or None;
- a candidate that breaks such a test getting the verdict ``failed_tests`` (``timeout`` or
  ``crashed`` when the run hangs or dies), with the first broken test named in its reason,
  after which the next best candidate gets the same check;
- tests that fail on the original code never counting against a candidate: the baseline's
  outcomes exclude them up front, and a test that fails with the candidate is rerun in the
  same selection on the original before it is blamed (order-dependent tests stay unblamed);
- every run happening in a sandbox workspace, like the rest of verification; the candidate
  runs in a fresh copy of the project, never in the user's tree;
- a check that cannot be made (the original's own run of the selection fails to finish)
  leaving the verdict alone and returning a warning that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from perfrl.engine.baseline import (
    Baseline,
    death_description,
    origin_problem,
    output_tail,
    run_with_plugin,
)
from perfrl.engine.candidate_check import splice as splice_candidate
from perfrl.engine.candidate_text import as_clean
from perfrl.engine.impacted_tests import TestScope, choose_scope
from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import (
    Cancelled,
    CancelToken,
    CandidateResult,
    FunctionTarget,
    ProgressCallback,
    ProgressEvent,
    Verdict,
)

#: The stage name under which the run's wall time appears in ``stage_seconds``.
STAGE = "wider_tests"
_TIME_FACTOR = 5.0
_TIME_FLOOR_S = 20.0


def _excerpt(text: str, limit: int = 240) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class _Problem(Exception):
    """What went wrong with the candidate's run; ``failing`` lists ``(node id, what
    happened)`` when tests failed (they are checked against the original before blame)."""

    def __init__(
        self, verdict: Verdict, reason: str, failing: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(reason)
        self.verdict, self.reason, self.failing = verdict, reason, failing


class WiderTests:
    """The selection of other tests for one job, and the original's outcomes on it (computed
    once, on first use, and reused for every candidate checked)."""

    def __init__(
        self,
        target: FunctionTarget,
        baseline: Baseline,
        sandbox,
        settings: EngineSettings,
        cancel: CancelToken | None = None,
    ) -> None:
        self.target, self.baseline, self.sandbox, self.settings = (
            target,
            baseline,
            sandbox,
            settings,
        )
        self.cancel = cancel
        self.timeout_s = min(
            settings.test_timeout_s, max(_TIME_FLOOR_S, _TIME_FACTOR * baseline.pytest_wall_s)
        )
        self._selection: tuple[TestScope, list[str]] | None = None
        self._original_failures: set[str] | None = None

    # -- what to run -------------------------------------------------------------------

    def selection(self) -> tuple[TestScope, list[str]]:
        """The scope and the node ids to run: those of the scope that passed on the original,
        in the baseline's run order."""
        if self._selection is None:
            outcomes = dict(getattr(self.baseline, "test_outcomes", None) or {})
            test_files = [_file_of(n) for n in outcomes] if outcomes else None
            scope = choose_scope(
                self.target.project_root,
                self.target.relpath,
                self.baseline.pytest_wall_s,
                test_files,
                extra_roots=[self.target.import_root],
            )
            if not outcomes:
                # A baseline cached before outcomes were kept: ask the original once.
                outcomes = self._outcomes_on_original(scope)
            wanted = set(scope.files)
            node_ids = [
                nodeid
                for nodeid, outcome in outcomes.items()
                if outcome == "passed" and (scope.whole_suite or _file_of(nodeid) in wanted)
            ]
            self._selection = (scope, node_ids)
        return self._selection

    def _run(self, ws, select: list[str] | None, files: Sequence[str], out_name: str):
        return run_with_plugin(
            ws,
            self.target,
            self.settings,
            mode="observe",
            out_name=out_name,
            extra_args=[] if select is not None else list(files),
            select=select,
            timeout_s=self.timeout_s,
            cancel=self.cancel,
        )

    def _outcomes_on_original(self, scope: TestScope) -> dict[str, str]:
        if not scope.whole_suite and not scope.files:
            return {}
        with self.sandbox.workspace({self.target.relpath: self.target.file_text}) as ws:
            run = self._run(ws, None, () if scope.whole_suite else scope.files, "wider-original")
        tests = (run.summary or {}).get("tests", {})
        return {nodeid: str(entry.get("outcome", "")) for nodeid, entry in tests.items()}

    def _failing_on_original(self, node_ids: list[str]) -> set[str] | None:
        """Which of ``node_ids`` fail on the original when run as this selection; None when
        the original's own run does not finish with a report."""
        if self._original_failures is None:
            with self.sandbox.workspace({self.target.relpath: self.target.file_text}) as ws:
                run = self._run(ws, node_ids, (), "wider-original")
            if run.summary is None or run.result.timed_out:
                return None
            tests = run.summary.get("tests", {})
            self._original_failures = {
                n for n in node_ids if tests.get(n, {}).get("outcome") != "passed"
            }
        return self._original_failures

    # -- one candidate -----------------------------------------------------------------

    def check(self, result: CandidateResult) -> tuple[Verdict, str] | str | None:
        """``(verdict, reason)`` when the candidate breaks the wider tests; None when it
        passes them; a warning string when the check could not be made."""
        scope, node_ids = self.selection()
        if not node_ids:
            return None
        code = as_clean(result.candidate, self.target)
        new_text = splice_candidate(self.target, code)
        started = time.perf_counter()
        blamed: _Problem | None = None
        try:
            with self.sandbox.workspace({self.target.relpath: new_text}) as ws:
                run = self._run(ws, node_ids, (), "wider-candidate")
                self._judge(run, node_ids, Path(ws.root))
        except _Problem as problem:
            blamed = problem
        finally:
            result.stage_seconds[STAGE] = round(time.perf_counter() - started, 4)
        if blamed is None:
            return None
        original_failures = self._failing_on_original(node_ids)
        if original_failures is None:
            return (
                f"could not check the best candidate against {scope.description}: the "
                "original code's own run of those tests did not finish"
            )
        if blamed.failing is not None:
            failing = [entry for entry in blamed.failing if entry[0] not in original_failures]
            if not failing:
                return None  # they fail on the original in this selection too
            first, what = failing[0]
            more = f" (and {len(failing) - 1} more test(s))" if len(failing) > 1 else ""
            reason = (
                f"{first} passes on the original but {what} with the candidate{more}; the "
                "tests that call the function pass, but the rewrite breaks other code of the "
                f"project (checked against {scope.description})"
            )
            return Verdict.FAILED_TESTS, reason
        return blamed.verdict, f"{blamed.reason} (checked against {scope.description})"

    def _judge(self, run, node_ids: list[str], ws_root: Path) -> None:
        result, summary = run.result, run.summary
        if result.timed_out:
            raise _Problem(
                Verdict.TIMEOUT,
                f"the project's other tests did not finish within {self.timeout_s:g} s",
            )
        if result.limit_hit or summary is None:
            tail = output_tail(result, 6)
            raise _Problem(
                Verdict.CRASHED,
                f"the process running the project's other tests {death_description(result)}"
                + (f": {_excerpt(tail)}" if tail else ""),
            )
        if summary.get("wrap_error"):
            raise _Problem(
                Verdict.FAILED_TESTS,
                "importing the module fails with the candidate: "
                + _excerpt(summary["wrap_error"].splitlines()[0]),
            )
        origin = origin_problem(self.target.module_name, summary.get("module_file"), ws_root)
        if origin:
            raise _Problem(Verdict.CRASHED, origin)
        tests = summary.get("tests", {})
        failing = []
        for nodeid in node_ids:
            entry = tests.get(nodeid)
            if entry is None:
                failing.append((nodeid, "did not run"))
            elif entry.get("outcome") != "passed":
                message = _excerpt(entry.get("message") or "")
                outcome = str(entry.get("outcome"))
                failing.append((nodeid, outcome + (f" ({message})" if message else "")))
        if not failing and result.returncode != 0:
            # Every test reported passing, yet pytest's exit status says otherwise: the report
            # is not to be trusted (candidate code runs in the process that writes it).
            raise _Problem(
                Verdict.FAILED_TESTS,
                f"pytest exited with status {result.returncode} while running the project's "
                "other tests with the candidate, although its report shows every test passing "
                "(was the report changed?)",
            )
        if failing:
            raise _Problem(Verdict.FAILED_TESTS, "", failing)


def confirm_best(
    target: FunctionTarget,
    baseline: Baseline,
    results: list[CandidateResult],
    sandbox,
    settings: EngineSettings,
    pick_best: Callable[[Sequence[CandidateResult]], int | None],
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[int | None, list[str]]:
    """The best candidate that also passes the project's other tests, and warnings.

    Changes the verdict and reason of each best-ranked candidate that breaks them (see the
    module docstring) and moves on to the next best; returns ``(index or None, warnings)``.
    """
    checker = WiderTests(target, baseline, sandbox, settings, cancel)
    warnings: list[str] = []
    while True:
        best = pick_best(results)
        if best is None:
            return None, warnings
        if cancel is not None and cancel.cancelled:
            raise Cancelled()
        if progress is not None:
            progress(
                ProgressEvent(
                    stage="testing",
                    message=f"checking candidate {best + 1} against the project's other tests",
                )
            )
        outcome = checker.check(results[best])
        if outcome is None:
            scope, node_ids = checker.selection()
            if node_ids:
                results[
                    best
                ].reason += f"; also passed {len(node_ids)} test(s) of {scope.description}"
            return best, warnings
        if isinstance(outcome, str):
            warnings.append(outcome)
            return best, warnings
        results[best].verdict, results[best].reason = outcome
