"""Loader for the PIE (Python) program pairs: EVALUATION ONLY, never training data.

PIE pairs are whole programs that read stdin and write stdout, so they are kept as
:class:`PieProgramPair` records rather than function-level :class:`CodePair` rows. The
directory layout is the one described in ``../shared/data/pie-python/README.md`` (beside the
checkout):
``test.jsonl``, ``problems.jsonl`` and ``tests/pNNNNN/{input,output}.K.txt``.

Known defects are surfaced as flags rather than silently fixed: suspect tests (from
``problems.jsonl``), ``runtime_suspect`` (runtimes under 15 ms), the numpy/scipy import
asymmetry (slow imports it, fast does not: the measured "speed-up" is import time),
``slow_pass`` / ``fast_pass`` (the sanity run) and special judges. :func:`repair_2to3`
undoes the 2to3 artefacts ``print((a, b))`` and ``print((*xs))`` (and, optionally,
``eval(input())``).
"""

from __future__ import annotations

import io
import json
import os
import re
import tokenize
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import PerfRLError


def _default_pie_dir() -> Path:
    """``$PERFRL_PIE_DIR``, else the team's shared copy beside the checkout
    (``<project root>/../shared/data/pie-python``)."""
    explicit = os.environ.get("PERFRL_PIE_DIR")
    if explicit:
        return Path(explicit)
    project_root = Path(__file__).resolve().parents[3]  # model_export/perfrl_train/data/pie.py
    return project_root.parent / "shared" / "data" / "pie-python"


DEFAULT_PIE_DIR = _default_pie_dir()

_HEAVY_IMPORT = re.compile(r"^\s*(?:import|from)\s+(numpy|scipy)\b", re.MULTILINE)


class PieFormatError(PerfRLError, ValueError):
    """The PIE directory or one of its rows is not in the expected format."""


@dataclass
class PieProgramPair:
    id: str
    problem_id: str
    slow: str  # PIE's code verbatim (doubled newlines, 2to3 artefacts)
    fast: str
    slow_clean: str  # the same code through black (artefacts kept)
    fast_clean: str
    tests: list[tuple[str, str]]  # (stdin text, expected stdout), in test-file order
    test_names: list[str]  # "input.K.txt" for each test
    suspect_tests: list[str] = field(default_factory=list)
    special_judge_hint: bool = False
    runtime_suspect: bool = False
    numpy_asymmetry: bool = False
    slow_pass: bool | None = None
    fast_pass: bool | None = None
    slow_repaired: str | None = None  # repaired code when the raw code failed and this passed
    fast_repaired: str | None = None
    runtime_lift: float | None = None
    split: str = "test"  # always: PIE is evaluation-only

    @property
    def usable(self) -> bool:
        """Both sides passed the sanity run and the speed-up is not numpy import time."""
        return bool(self.slow_pass and self.fast_pass and not self.numpy_asymmetry)

    def trusted_tests(self) -> list[tuple[str, str]]:
        """The tests minus the suspect ones (special judges, float tolerance, corrupt files)."""
        bad = set(self.suspect_tests)
        return [t for t, name in zip(self.tests, self.test_names, strict=True) if name not in bad]

    def program(self, side: str, *, repair: bool = True) -> str:
        """Runnable Python 3 source of one side: the sanity run's repair when there is one,
        else the black-formatted code, 2to3 print artefacts undone when ``repair``."""
        if side not in ("slow", "fast"):
            raise ValueError(f"side must be 'slow' or 'fast', not {side!r}")
        repaired = self.slow_repaired if side == "slow" else self.fast_repaired
        if repaired:
            return repaired
        code = self.slow_clean if side == "slow" else self.fast_clean
        return repair_2to3(code) if repair else code

    def to_json(self) -> dict:
        data = asdict(self)
        data["tests"] = [list(t) for t in self.tests]
        return data


def outputs_match(actual: str, expected: str) -> bool:
    """PIE's comparison: trailing whitespace per line and trailing blank lines ignored."""

    def norm(s: str) -> list[str]:
        lines = [line.rstrip() for line in s.splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    return norm(actual) == norm(expected)


def imports_numpy(code: str) -> bool:
    return bool(_HEAVY_IMPORT.search(code))


def repair_2to3(code: str, *, undo_eval_input: bool = False) -> str:
    """Undo 2to3's ``print((a, b))`` -> ``print(a, b)`` and ``print((*xs))`` -> ``print(*xs)``.

    Only a ``print(( ... ))`` whose inner parentheses hold the whole argument list and contain
    a top-level comma or start with ``*`` is changed (``print((a + b) * 2)`` is left alone).
    With ``undo_eval_input``, ``eval(input())`` becomes ``input()``. Code that does not
    tokenize is returned unchanged.
    """
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def pos(rc: tuple[int, int]) -> int:
        return offsets[rc[0] - 1] + rc[1]

    removals: list[int] = []  # character offsets of parentheses to delete
    sig = [
        t
        for t in toks
        if t.type
        not in (tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    ]
    for k in range(len(sig) - 2):
        if not (
            sig[k].type == tokenize.NAME
            and sig[k].string == "print"
            and sig[k + 1].string == "("
            and sig[k + 2].string == "("
        ):
            continue
        if k > 0 and sig[k - 1].string == ".":
            continue
        depth, close, comma = 0, None, False
        for m in range(k + 2, len(sig)):
            s = sig[m].string
            if sig[m].type == tokenize.OP and s in "([{":
                depth += 1
            elif sig[m].type == tokenize.OP and s in ")]}":
                depth -= 1
                if depth == 0:
                    close = m
                    break
            elif depth == 1 and s == ",":
                comma = True
        if close is None or close + 1 >= len(sig) or sig[close + 1].string != ")":
            continue
        starred = sig[k + 3].string == "*" if k + 3 < len(sig) else False
        if comma or starred:
            removals += [pos(sig[k + 2].start), pos(sig[close].start)]
    out = code
    for off in sorted(removals, reverse=True):
        out = out[:off] + out[off + 1 :]
    if undo_eval_input:
        out = re.sub(r"\beval\(\s*input\(\)\s*\)", "input()", out)
    return out


def _read_tests(tests_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    if not tests_dir.is_dir():
        return [], []
    pairs, names = [], []
    inputs = sorted(tests_dir.glob("input.*.txt"), key=lambda p: int(p.name.split(".")[1]))
    for inp in inputs:
        outp = tests_dir / inp.name.replace("input.", "output.", 1)
        if not outp.is_file():
            raise PieFormatError(f"{inp} has no matching {outp.name}")
        pairs.append((inp.read_text(errors="replace"), outp.read_text(errors="replace")))
        names.append(inp.name)
    return pairs, names


def load_problems(pie_dir: Path = DEFAULT_PIE_DIR) -> dict[str, dict]:
    path = Path(pie_dir) / "problems.jsonl"
    if not path.is_file():
        return {}
    with path.open() as fh:
        return {row["problem_id"]: row for row in map(json.loads, filter(str.strip, fh))}


def load_pie_pairs(
    pie_dir: Path = DEFAULT_PIE_DIR, *, jsonl: str = "test.jsonl", limit: int | None = None
) -> list[PieProgramPair]:
    """Read PIE rows with their public tests and defect flags (see module docstring)."""
    pie_dir = Path(pie_dir)
    path = pie_dir / jsonl
    if not path.is_file():
        raise PieFormatError(
            f"{path} not found; expected a PIE directory like "
            f"{DEFAULT_PIE_DIR} (test.jsonl, problems.jsonl, tests/)"
        )
    problems = load_problems(pie_dir)
    test_cache: dict[str, tuple[list, list]] = {}
    out: list[PieProgramPair] = []
    with path.open() as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if limit is not None and len(out) >= limit:
                break
            try:
                row = json.loads(line)
                pid = row["problem_id"]
                slow, fast = row["slow"], row["fast"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise PieFormatError(f"{path}:{lineno}: {exc}") from exc
            if pid not in test_cache:
                test_cache[pid] = _read_tests(pie_dir / "tests" / pid)
            tests, names = test_cache[pid]
            prob = problems.get(pid, {})
            slow_clean = row.get("slow_clean") or slow
            fast_clean = row.get("fast_clean") or fast
            out.append(
                PieProgramPair(
                    id=row.get("id", f"{pid}-{lineno}"),
                    problem_id=pid,
                    slow=slow,
                    fast=fast,
                    slow_clean=slow_clean,
                    fast_clean=fast_clean,
                    tests=list(tests),
                    test_names=list(names),
                    suspect_tests=list(prob.get("suspect_tests", [])),
                    special_judge_hint=bool(prob.get("special_judge_hint", False)),
                    runtime_suspect=bool(row.get("runtime_suspect", False)),
                    numpy_asymmetry=imports_numpy(slow_clean) and not imports_numpy(fast_clean),
                    slow_pass=row.get("slow_pass"),
                    fast_pass=row.get("fast_pass"),
                    slow_repaired=row.get("slow_repaired"),
                    fast_repaired=row.get("fast_repaired"),
                    runtime_lift=row.get("runtime_lift"),
                )
            )
    return out


def write_pie_jsonl(path: Path, pairs: list[PieProgramPair]) -> int:
    for p in pairs:
        if p.split != "test":
            raise AssertionError(f"PIE pair {p.id} has split {p.split!r}: PIE is eval-only")
    with Path(path).open("w") as fh:
        for p in pairs:
            fh.write(json.dumps(p.to_json(), sort_keys=True) + "\n")
    return len(pairs)
