"""Normalizing, checking, splicing and diffing candidates against real located targets."""

from __future__ import annotations

import ast
import runpy
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfrl.engine.candidate_check import (
    candidate_diff,
    check_candidate,
    dedent_code,
    normalize_candidate,
    splice,
)
from perfrl.engine.locate import locate_function
from perfrl.engine.types import FunctionTarget

MODULE = textwrap.dedent('''\
    from __future__ import annotations

    import math


    def area(r: float, /, scale=1.0, *extra, unit="m", precise: bool = False, **opts) -> float:
        """Area of a circle."""
        return math.pi * r * r * scale


    class Shapes:
        def __init__(self):
            self.items = []

        @staticmethod
        def norm(xs):
            total = 0
            for x in xs:
                total += x * x
            return math.sqrt(total)

        def stream(self):
            yield from self.items

        async def load(self):
            return self.items


    def tail():
        return 1
''')


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    return write(tmp_path / "geometry.py", MODULE)


@pytest.fixture
def area(module: Path) -> FunctionTarget:
    return locate_function(f"{module}::area")


@pytest.fixture
def norm(module: Path) -> FunctionTarget:
    return locate_function(f"{module}::Shapes.norm")


NORM_FAST = "@staticmethod\ndef norm(xs):\n    return math.sqrt(sum(x * x for x in xs))\n"


# --- normalize -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        NORM_FAST,
        "```python\n" + NORM_FAST + "```\n",
        "Here is a faster version:\n\n```py\n" + NORM_FAST + "```\nIt avoids the loop.\n",
        "Sure!\n```\n" + NORM_FAST,  # unclosed fence (truncated output)
        textwrap.indent(NORM_FAST, "        "),
        "Faster:\n" + textwrap.indent(NORM_FAST, "    ") + "This avoids the Python loop.\n",
        NORM_FAST.replace("\n", "\r\n"),
        "\n\n" + NORM_FAST + "\n\n   \n",
    ],
)
def test_normalize_recovers_the_function(raw: str) -> None:
    assert normalize_candidate(raw) == NORM_FAST
    assert normalize_candidate(NORM_FAST) == NORM_FAST


_PIECES = st.sampled_from([
    "def f():", "    return 1", "  ", "\t", "\n", "\r\n", "\r", "```", "```python", "@dec",
    "Here is prose.", "x = (", ")", ":", "'''", "\ufeff", " ", "async def g(x):", "        pass",
    "# c", "\x0c",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_normalize_is_idempotent_and_well_formed(raw: str) -> None:
    once = normalize_candidate(raw)
    assert normalize_candidate(once) == once
    assert once == "" or (once.endswith("\n") and not once.endswith("\n\n"))
    assert "\r" not in once and "\ufeff" not in once


def test_normalize_prefers_the_fenced_block_with_a_def() -> None:
    raw = "```\npip install x\n```\nthen\n```python\ndef f():\n    return 1\n```\n"
    assert normalize_candidate(raw) == "def f():\n    return 1\n"


def test_normalize_keeps_extra_code_for_check_to_refuse() -> None:
    raw = "import itertools\n\ndef f():\n    return 1\n"
    assert normalize_candidate(raw) == raw


def test_normalize_does_not_cut_a_truncated_body() -> None:
    raw = "def f(xs):\n    total = 0\n    return total +\n"
    assert normalize_candidate(raw) == raw
    assert normalize_candidate("") == "" and normalize_candidate("  \n\n") == ""


def test_dedent_leaves_whitespace_only_lines_alone() -> None:
    text = "    def f():\n        s = '''\n          \n        '''\n\n        return s\n"
    assert dedent_code(text) == "def f():\n    s = '''\n          \n    '''\n\n    return s\n"


# --- check -----------------------------------------------------------------------------------


def test_valid_candidates_pass(area: FunctionTarget, norm: FunctionTarget) -> None:
    assert check_candidate(norm, NORM_FAST) is None
    assert check_candidate(norm, norm.source) is None
    assert check_candidate(area, area.source) is None
    # Annotations and the return annotation may change; imports inside the body are fine.
    rewrite = (
        'def area(r, /, scale=1.0, *extra, unit="m", precise=False, **opts):\n'
        "    from math import pi\n"
        "    return pi * r * r * scale\n"
    )
    assert check_candidate(area, rewrite) is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "is empty"),
        ("@staticmethod\ndef norm(xs):\n    return (\n", "does not parse: line 3"),
        ("import math\n" + NORM_FAST, "defines more than the function (an import at line 1)"),
        (NORM_FAST + "\nCACHE = {}\n", "an assignment at line 5"),
        ("class norm:\n    pass\n", "is a class, not a function definition"),
        ("x = 1\n", "is an assignment, not a function definition"),
        (NORM_FAST.replace("def norm", "def norm2"), "renames the function from norm to norm2"),
        (NORM_FAST.replace("def norm", "async def norm"), "is async but the original is not"),
        ("@staticmethod\ndef norm(xs):\n    yield sum(xs)\n",
         "is a generator (it uses yield) but the original is not"),
        (NORM_FAST.replace("@staticmethod\n", ""),
         "changes the decorators from @staticmethod to none"),
        ("@functools.cache\n" + NORM_FAST,
         "changes the decorators from @staticmethod to @functools.cache @staticmethod"),
        (NORM_FAST.replace("(xs)", "(values)", 1),
         "it has parameter 'values' where the original has 'xs'"),
        (NORM_FAST.replace("(xs)", "(xs, fast=True)", 1), "it adds parameter 'fast'"),
        (NORM_FAST.replace("(xs)", "(xs=())", 1), "it adds the default value of 'xs'"),
        (NORM_FAST.replace("(xs)", "(*, xs)", 1),
         "it makes 'xs' keyword-only instead of positional-or-keyword"),
        ("@staticmethod\ndef norm(xs):\n    for x in xs:\n        pass\n    break\n",
         "does not compile: line 5: 'break' outside loop"),
        ("@staticmethod\ndef norm(xs):\n    return await xs\n",
         "does not compile: line 3: 'await' outside async function"),
        ("@staticmethod\ndef norm(xs):\n    nonlocal total\n    return xs\n",
         "does not compile: line 3: no binding for nonlocal 'total' found"),
    ],
)
def test_refusals(norm: FunctionTarget, code: str, reason: str) -> None:
    result = check_candidate(norm, code)
    assert result is not None and reason in result, result


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ('(r, scale=1.0, *extra, unit="m", precise=False, **opts)',
         "makes 'r' positional-or-keyword instead of positional-only"),
        ('(r, /, scale=2.0, *extra, unit="m", precise=False, **opts)',
         "changes the default value of 'scale'"),
        ('(r, /, scale=1.0, *extra, unit="m", precise=False)', "removes parameter 'opts'"),
        ('(r, /, scale=1.0, *more, unit="m", precise=False, **opts)',
         "has parameter 'more' where the original has 'extra'"),
        ('(r, /, scale=1.0, *extra, unit, precise=False, **opts)',
         "removes the default value of 'unit'"),
    ],
)
def test_parameter_refusals_name_the_difference(area: FunctionTarget, signature: str,
                                                reason: str) -> None:
    result = check_candidate(area, f"def area{signature}:\n    return 0.0\n")
    assert result is not None
    assert result.startswith(
        'changes the parameters from (r, /, scale=1.0, *extra, unit=\'m\', precise=False, '
        "**opts) to ("
    )
    assert reason in result and "annotations may change" in result


def test_generator_and_async_targets_need_the_same_kind(module: Path) -> None:
    stream = locate_function(f"{module}::Shapes.stream")
    assert check_candidate(stream, "def stream(self):\n    yield from iter(self.items)\n") is None
    assert "is not a generator (no yield) but the original is" in check_candidate(
        stream, "def stream(self):\n    return iter(self.items)\n"
    )
    load = locate_function(f"{module}::Shapes.load")
    assert "is not async but the original is" in check_candidate(
        load, "def load(self):\n    return self.items\n"
    )


# --- splice ----------------------------------------------------------------------------------


def test_splice_of_the_original_is_identity(module: Path) -> None:
    for qualname in ["area", "Shapes.__init__", "Shapes.norm", "Shapes.stream", "tail"]:
        target = locate_function(f"{module}::{qualname}")
        assert splice(target, target.source) == target.file_text, qualname
        assert splice(target, normalize_candidate(target.source)) == target.file_text


def test_splice_of_the_original_keeps_whitespace_only_lines(tmp_path: Path) -> None:
    # Editors that keep indentation on blank lines, and blank lines inside strings.
    text = ("class A:\n    def m(self):\n        x = 1\n    \n        \n  \n"
            "        s = '''\n    \n\t\n        '''\n        return x, s\n\n\nY = 1\n")
    path = tmp_path / "blank.py"
    path.write_text(text)
    target = locate_function(f"{path}::A.m")
    assert splice(target, target.source) == text
    assert splice(target, normalize_candidate(target.source)) == text
    assert runpy.run_path(str(path))["A"]().m()[1] == "\n    \n\t\n        "


def test_splice_replaces_only_the_function(norm: FunctionTarget) -> None:
    new_text = splice(norm, NORM_FAST)
    before = norm.file_text.splitlines(keepends=True)
    after = new_text.splitlines(keepends=True)
    assert after[:norm.start_line - 1] == before[:norm.start_line - 1]
    removed = norm.end_line - norm.start_line + 1 - 3
    assert after[norm.end_line - removed:] == before[norm.end_line:]
    assert after[norm.start_line - 1:norm.start_line + 2] == [
        "    @staticmethod\n",
        "    def norm(xs):\n",
        "        return math.sqrt(sum(x * x for x in xs))\n",
    ]
    ast.parse(new_text)


def test_splice_keeps_crlf_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "crlf.py", MODULE, "\r\n")
    target = locate_function(f"{path}::Shapes.norm")
    new_text = splice(target, NORM_FAST)  # candidate uses \n
    assert "\n" not in new_text.replace("\r\n", "")
    original = path.read_bytes()
    spliced = new_text.encode("utf-8")
    lines = original.split(b"\r\n")
    prefix = b"\r\n".join(lines[:target.start_line - 1]) + b"\r\n"
    suffix = b"\r\n".join(lines[target.end_line:])
    assert spliced.startswith(prefix) and spliced.endswith(b"\r\n" + suffix)
    assert b"        return math.sqrt(sum(x * x for x in xs))\r\n" in spliced


def test_splice_into_tab_indented_class(tmp_path: Path) -> None:
    path = write(tmp_path / "tabs.py",
                 "class A:\n\tdef m(self, xs):\n\t\treturn [x for x in xs]\n\n\tdef n(self):\n"
                 "\t\treturn 2\n")
    target = locate_function(f"{path}::A.m")
    code = "def m(self, xs):\n    return list(xs)\n"
    assert check_candidate(target, code) is None
    new_text = splice(target, code)
    assert new_text == ("class A:\n\tdef m(self, xs):\n\t    return list(xs)\n\n\tdef n(self):\n"
                        "\t\treturn 2\n")
    spliced = tmp_path / "spliced.py"
    spliced.write_text(new_text)
    assert runpy.run_path(str(spliced))["A"]().m((1, 2)) == [1, 2]


def test_splice_at_end_of_file_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "end.py"
    path.write_text("x = 1\n\ndef f():\n    return x")
    target = locate_function(f"{path}::f")
    assert splice(target, "def f():\n    return x + 0\n") == "x = 1\n\ndef f():\n    return x + 0"


def test_splice_keeps_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbfdef f():\n    return 1\n\n\ndef g():\n    return 2\n")
    target = locate_function(f"{path}::f")
    assert splice(target, target.source) == target.file_text
    assert check_candidate(target, "def f():\n    return 3\n") is None
    assert splice(target, "def f():\n    return 3\n").encode("utf-8") == (
        b"\xef\xbb\xbfdef f():\n    return 3\n\n\ndef g():\n    return 2\n"
    )


def test_splice_that_breaks_the_file_raises(norm: FunctionTarget) -> None:
    with pytest.raises(ValueError, match=r"does not fit into geometry\.py: line"):
        splice(norm, "def norm(xs:\n    return 1\n")


# --- diff ------------------------------------------------------------------------------------


def test_candidate_diff_is_a_unified_diff_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    path = write(tmp_path / "pkg" / "geometry.py", MODULE, "\r\n")
    target = locate_function(f"{path}::Shapes.norm")
    diff = candidate_diff(target, NORM_FAST)
    lines = diff.splitlines()
    assert lines[0] == "--- a/pkg/geometry.py"
    assert lines[1] == "+++ b/pkg/geometry.py"
    assert lines[2].startswith("@@ -")
    assert "-        for x in xs:" in lines
    assert "+        return math.sqrt(sum(x * x for x in xs))" in lines
    assert "\r" not in diff
    assert candidate_diff(target, target.source) == ""
    # Even a candidate that does not parse gets a diff, so the user sees what was proposed.
    assert "+    def norm(xs:" in candidate_diff(target, "def norm(xs:\n    return 1\n")
