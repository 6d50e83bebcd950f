"""How much evidence stands behind a verdict, and a plain warning when it is thin.

A rewrite is judged on the project's tests that call the function, the calls those tests make
(recorded in the baseline) and inputs generated from them. When these are few, "verified" means
little: a rewrite can pass them all and still be wrong on other inputs (boltons'
``args2cmd``: 1 test, 3 recorded calls, a rewrite wrong on 7.6% of random inputs was verified
faster). A caller may rely on:

- :func:`assess_evidence` being pure (no I/O) and :class:`Evidence.warning` being ``None``
  exactly when :attr:`Evidence.thin` is false;
- the warning naming what is thin, with the numbers, and how to strengthen it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from perfrl.engine.types import BaselineSummary

#: Fewer calling tests than this is thin evidence.
MIN_CALLING_TESTS = 3
#: Fewer distinct recorded calls than this is thin evidence.
MIN_DISTINCT_CALLS = 5


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on. ``generated_inputs`` is the most generated inputs any
    candidate was compared on (0 when no generator ran)."""

    tests_calling: int
    test_files_calling: int
    calls_recorded: int
    calls_distinct: int
    generated_inputs: int
    thin: bool
    warning: str | None

    def to_json(self) -> dict:
        return asdict(self)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def assess_evidence(
    function: str, baseline: BaselineSummary, generated_inputs: int = 0
) -> Evidence:
    """The evidence for ``function`` (a display name such as ``pkg/mod.py::f``)."""
    tests = baseline.tests_calling
    distinct = baseline.calls_distinct or baseline.calls_captured
    short = []
    if tests < MIN_CALLING_TESTS:
        short.append(f"only {_plural(tests, 'test')} {'calls' if tests == 1 else 'call'} it")
    if distinct < MIN_DISTINCT_CALLS:
        verb = "was" if distinct == 1 else "were"
        short.append(f"only {_plural(distinct, 'distinct call')} {verb} recorded")
    thin = bool(short)
    warning = None
    if thin:
        name = function.rsplit("::", 1)[-1]
        generated = (
            f"; {generated_inputs} generated input(s) were compared as well"
            if generated_inputs
            else "; no generated inputs were compared"
        )
        warning = (
            f"thin evidence: {' and '.join(short)}{generated}. A rewrite can pass all of "
            f"these and still be wrong on other inputs. To strengthen it, add tests that call "
            f"{name} with varied inputs (empty, edge and unusual values), aiming for at least "
            f"{MIN_CALLING_TESTS} tests and {MIN_DISTINCT_CALLS} distinct calls."
        )
    return Evidence(
        tests_calling=tests,
        test_files_calling=baseline.test_files_calling,
        calls_recorded=baseline.calls_captured,
        calls_distinct=distinct,
        generated_inputs=generated_inputs,
        thin=thin,
        warning=warning,
    )
