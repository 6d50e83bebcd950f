"""Rule-based candidates: ruff's autofixes applied to the target function alone.

The function is written to a scratch file, preceded by its module's top-level imports (so
that ruff knows what ``math`` or ``List`` refer to) and, for a method, wrapped in a dummy
class (so ``self``/``cls`` methods lint as methods). Each rule family in
:data:`RULE_FAMILIES` that has a fixable finding in the function is applied on its own
(``ruff check --fix --unsafe-fixes --select FAMILY --isolated``), then all of them together;
each distinct result whose AST differs from the original is one candidate, labelled with the
rule codes ruff reports as fixed ("ruff PERF401,C416").

A caller may rely on:

- candidates being whole functions dedented to column 0, differing from the original in
  their AST, and distinct from each other;
- the user's files never being touched (ruff only sees a file in a temporary folder), and
  no user configuration applying (``--isolated``; ``RUFF_*`` variables are dropped);
- ruff missing, failing or timing out raising :class:`CandidateSourceError` (after any
  candidates already produced have been yielded).

Unsafe fixes and preview rules are enabled on purpose (PERF401's comprehension fix is a
preview, unsafe fix): nothing here is trusted, every candidate is verified by running the
project's tests and comparing behaviour on real calls.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.candidate_text import (
    CleanCandidate,
    clean_candidate,
    dedent_code,
    original_candidate,
)
from perfrl.engine.locate import parse_module, split_lines
from perfrl.engine.types import Candidate, FunctionTarget

#: Rule families tried one at a time, then all together. Order is the order of candidates.
RULE_FAMILIES = ("PERF", "C4", "FURB", "SIM", "UP")

_WRAPPER_CLASS = "_PerfRLRulesWrapper"
_WRAPPER_INDENT = "    "
_SCRATCH_NAME = "perfrl_rules_target.py"
# A blanket suppression comment for scratch lines ruff must leave alone (spelled in two
# parts so that ruff, linting this file, does not read it as a directive here).
_SUPPRESS = "  # no" + "qa"
_FIXED_LINE_RE = re.compile(r"\d+\s*×\s*\S+\s+\(([A-Z]+[0-9]+)\)")
_VERSION_RE = re.compile(r">=?\s*3\.(\d+)")
# ruff knows these target versions; a requires-python outside them is not passed on.
_MIN_MINOR, _MAX_MINOR = 7, 14


@dataclass
class _Scratch:
    """The file ruff sees, and where the function starts in it."""

    text: str
    function_line: int  # first line of the function (or of the wrapper class)
    prelude: list[ast.stmt]  # the module's imports, as written into the scratch file


@dataclass
class _Rewrite:
    code: str
    codes: list[str]
    moved_imports: int


def _behaviour_key(module: ast.Module) -> str:
    """The AST of a clean candidate's ``module`` without type annotations: fixes that only
    touch annotations (UP006 ``List`` -> ``list``) cannot change how fast a call runs, so they
    are not worth a candidate. Not the engine's de-duplication (which compares whole ASTs):
    a rewrite whose only news is annotations adds nothing to verify."""
    tree = copy.deepcopy(module)  # the candidate's own tree is used again by the checker
    for node in ast.walk(tree):
        if isinstance(node, ast.arg):
            node.annotation = None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        elif isinstance(node, ast.AnnAssign) and node.value is None and node.simple:
            # A bare local annotation ("x: int") does nothing at run time.
            node.annotation = ast.Constant(None)
    return ast.dump(tree)


def _family_of(code: str, families: Sequence[str] = RULE_FAMILIES) -> str | None:
    """The family (one of ``families``) a rule code such as ``C416`` belongs to."""
    for family in sorted(families, key=len, reverse=True):
        if code.startswith(family) and code[len(family):].isdigit():
            return family
    return None


def _project_target_version(project_root: Path) -> str | None:
    """``pyXY`` from the project's ``requires-python`` lower bound, when it says one."""
    try:
        data = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    spec = data.get("project", {}).get("requires-python")
    match = _VERSION_RE.search(spec) if isinstance(spec, str) else None
    if match is None or not _MIN_MINOR <= int(match.group(1)) <= _MAX_MINOR:
        return None
    return f"py3{match.group(1)}"


def _module_imports(file_text: str) -> list[ast.stmt]:
    try:
        tree = parse_module(file_text)
    except (SyntaxError, ValueError):
        return []
    return [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]


def _build_scratch(target: FunctionTarget, function_code: str) -> _Scratch:
    prelude = _module_imports(target.file_text)
    # One line per import, with a blanket suppression comment: ruff must neither report nor
    # rewrite the imports themselves (such fixes would not be part of the candidate anyway).
    lines = [f"{ast.unparse(stmt)}{_SUPPRESS}\n" for stmt in prelude]
    if lines:
        lines.append("\n\n")
    function_line = len("".join(lines).splitlines()) + 1
    if target.is_method:
        lines.append(f"class {_WRAPPER_CLASS}:{_SUPPRESS}\n")
        lines += [_WRAPPER_INDENT + line if line.strip() else line
                  for line in split_lines(function_code)]
    else:
        lines.append(function_code)
    return _Scratch("".join(lines), function_line, prelude)


def _extract_function(scratch_text: str, target: FunctionTarget,
                      prelude: list[ast.stmt]) -> tuple[str, int] | None:
    """(function code at column 0, how many imports the fix added at module level) from a
    fixed scratch file, those imports moved into the function's body
    (:func:`_import_lines`); None when the fixed file is not shaped as expected or an import
    has no line to go on. The scratch file (ruff's output, a module) is parsed here; the
    function's own text is left to the engine's cleaning."""
    try:
        tree = ast.parse(scratch_text)
    except SyntaxError:
        return None
    known = {ast.dump(stmt) for stmt in prelude}
    added: list[ast.stmt] = []
    holder: ast.stmt | None = None
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            if ast.dump(stmt) not in known:
                added.append(stmt)
        elif holder is None:
            holder = stmt
        else:
            return None  # a fix added some other module-level statement
    if target.is_method:
        if not (isinstance(holder, ast.ClassDef) and holder.name == _WRAPPER_CLASS
                and len(holder.body) == 1):
            return None
        node: ast.stmt | None = holder.body[0]
    else:
        node = holder
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != target.name:
        return None
    lines = split_lines(scratch_text)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    end = node.end_lineno or node.lineno
    if added:
        placed = _import_lines(node, lines, added)
        if placed is None:
            return None
        at, new = placed
        lines[at:at] = new
        end += len(new)
    return dedent_code("".join(lines[start - 1:end])), len(added)


def _import_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str],
                  imports: list[ast.stmt]) -> tuple[int, list[str]] | None:
    """Where (an index into ``lines``, the file ``node`` was parsed from) and which lines put
    ``imports`` as the first statements of the function's body (after a docstring).

    Why move rather than drop: the candidate replaces only the function, so an import a fix
    put at module level would be lost and the rewrite would fail with NameError. Inside the
    body it runs on every call (a dictionary lookup in ``sys.modules`` after the first), and
    the benchmark measures that cost like any other. None when there is no line to put
    them on (a body on the ``def`` line).
    """
    body = node.body
    has_docstring = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                     and isinstance(body[0].value.value, str))
    if has_docstring and len(body) == 1:
        anchor, insert_at = body[0], body[0].end_lineno or body[0].lineno  # after it
    else:
        anchor = body[1] if has_docstring else body[0]
        insert_at = anchor.lineno - 1  # before it
    reference = lines[anchor.lineno - 1]
    indent = reference[: len(reference) - len(reference.lstrip(" \t"))]
    # The anchor must start its own line: not on the def line, not after a ";".
    if anchor.lineno == node.lineno or not indent or len(indent.encode()) != anchor.col_offset:
        return None
    return insert_at, [f"{indent}{ast.unparse(stmt)}\n" for stmt in imports]


class RuleCandidateSource:
    """Candidates from ruff's autofixes (see the module docstring)."""

    name = "rules"

    def __init__(self, families: Sequence[str] = RULE_FAMILIES, timeout_s: float = 30.0,
                 preview: bool = True, target_version: str | None = None,
                 ruff_command: Sequence[str] | None = None) -> None:
        self.families = tuple(families)
        self.timeout_s = timeout_s
        self.preview = preview
        # None: the lower bound of the project's requires-python, else ruff's default.
        self.target_version = target_version
        # None: ``ruff`` from PATH, else ``python -m ruff``.
        self.ruff_command = list(ruff_command) if ruff_command else None
        self._command: list[str] | None = None

    # -- running ruff -------------------------------------------------------------------------

    def _ruff_command(self) -> list[str]:
        """The configured command, else ``ruff`` from PATH, else ``python -m ruff``; checked
        once by asking its version."""
        if self._command is not None:
            return self._command
        if self.ruff_command is not None:
            attempts = [self.ruff_command]
        else:
            found = shutil.which("ruff")
            attempts = ([[found]] if found else []) + [[sys.executable, "-m", "ruff"]]
        errors = []
        for command in attempts:
            try:
                result = subprocess.run([*command, "--version"], capture_output=True, text=True,
                                        check=False, timeout=self.timeout_s, env=self._env())
            except (OSError, subprocess.TimeoutExpired) as exc:
                errors.append(f"{' '.join(command)}: {exc}")
                continue
            if result.returncode == 0 and result.stdout.startswith("ruff"):
                self._command = command
                return command
            errors.append(f"{' '.join(command)}: {(result.stderr or result.stdout).strip()}")
        raise CandidateSourceError(
            "ruff is not runnable (" + "; ".join(errors) + "); install it in the server's "
            "environment with `pip install ruff` to get rule-based candidates"
        )

    @staticmethod
    def _env() -> dict[str, str]:
        # RUFF_* variables could change the output format or the rules; --isolated does
        # not cover them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUFF_")}
        env["NO_COLOR"] = "1"
        return env

    def _run(self, args: list[str], path: Path, target_version: str | None) -> str:
        command = [*self._ruff_command(), "check", "--isolated", "--no-cache", "--exit-zero",
                   *args]
        if self.preview:
            command.append("--preview")
        if target_version:
            command += ["--target-version", target_version]
        command.append(str(path))
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False,
                                    timeout=self.timeout_s, cwd=path.parent, env=self._env())
        except subprocess.TimeoutExpired as exc:
            raise CandidateSourceError(
                f"ruff took longer than {self.timeout_s:g} s on the function; gave up"
            ) from exc
        except OSError as exc:
            raise CandidateSourceError(f"ruff could not be started: {exc}") from exc
        if result.returncode != 0:
            raise CandidateSourceError(
                f"ruff failed (exit {result.returncode}): {result.stderr.strip()[:500]}"
            )
        if "Unknown rule selector" in result.stderr:
            # With --preview ruff only warns, and would silently find nothing.
            raise CandidateSourceError(f"ruff does not know a rule family: {result.stderr.strip()}")
        return result.stdout

    def _fixable_codes(self, path: Path, scratch: _Scratch,
                       target_version: str | None) -> list[str]:
        """Codes with an applicable fix inside the function, in order of appearance."""
        output = self._run(["--output-format", "json", "--select", ",".join(self.families)],
                           path, target_version)
        try:
            diagnostics = json.loads(output or "[]")
        except json.JSONDecodeError as exc:
            raise CandidateSourceError(f"could not read ruff's JSON output: {exc}") from exc
        codes: list[str] = []
        for item in diagnostics:
            if item.get("code") is None:  # a syntax error: ruff's parser disagrees with ours
                raise CandidateSourceError(
                    f"ruff could not parse the function: {item.get('message', '')}"
                )
            fix = item.get("fix")
            in_function = item.get("location", {}).get("row", 0) >= scratch.function_line
            if in_function and fix and fix.get("applicability") != "display-only":
                codes.append(item["code"])
        return list(dict.fromkeys(codes))

    # -- producing candidates -----------------------------------------------------------------

    def _rewrite(self, path: Path, scratch: _Scratch, select: Sequence[str],
                 target: FunctionTarget, fallback_codes: list[str],
                 target_version: str | None) -> _Rewrite | None:
        path.write_text(scratch.text, encoding="utf-8")
        output = self._run(["--fix", "--unsafe-fixes", "--show-fixes", "--output-format", "full",
                            "--select", ",".join(select)], path, target_version)
        fixed = path.read_text(encoding="utf-8")
        extracted = _extract_function(fixed, target, scratch.prelude)
        if extracted is None:
            return None
        code, moved_imports = extracted
        # --show-fixes lists every fix applied, including ones that became possible only
        # after another fix (C404 then C416); the JSON run before fixing cannot know those.
        codes = list(dict.fromkeys(_FIXED_LINE_RE.findall(output))) or fallback_codes
        return _Rewrite(code, codes, moved_imports)

    def generate(self, target: FunctionTarget, limit: int) -> Iterator[CleanCandidate]:
        if limit <= 0:
            return
        original = original_candidate(target)
        assert original.module is not None  # a located target parses
        original_key = _behaviour_key(original.module)
        scratch = _build_scratch(target, original.code)
        target_version = self.target_version or _project_target_version(target.project_root)
        seen = {original_key}
        produced = 0
        with tempfile.TemporaryDirectory(prefix="perfrl-rules-") as folder:
            path = Path(folder) / _SCRATCH_NAME
            path.write_text(scratch.text, encoding="utf-8")
            codes = self._fixable_codes(path, scratch, target_version)
            fired = [f for f in self.families
                     if any(_family_of(c, self.families) == f for c in codes)]
            selections = [[family] for family in fired]
            if fired:
                # All families together can do more than each alone (one fix enables another).
                selections.append(list(self.families))
            for select in selections:
                if produced >= limit:
                    return
                family_codes = [c for c in codes if _family_of(c, self.families) in select]
                rewrite = self._rewrite(path, scratch, select, target, family_codes,
                                        target_version)
                if rewrite is None:
                    continue
                label = "ruff " + ",".join(rewrite.codes)
                if rewrite.moved_imports:
                    label += " (import moved into the function)"
                clean = clean_candidate(Candidate("rules", label, rewrite.code), target,
                                        produced + 1)
                if clean.module is None:
                    continue  # a broken fix; nothing to learn from it
                key = _behaviour_key(clean.module)
                if key in seen:
                    continue
                seen.add(key)
                produced += 1
                yield clean
