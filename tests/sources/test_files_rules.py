"""The file and rule candidate sources, on real files and with the real ruff binary."""

from __future__ import annotations

import ast
import sys
import textwrap
import time
from pathlib import Path

import pytest

from perfrl.engine.candidate_check import check_candidate, splice
from perfrl.engine.candidate_source import CandidateSource, CandidateSourceError
from perfrl.engine.locate import locate_function
from perfrl.engine.types import FunctionTarget
from perfrl.sources.files import FileCandidateSource
from perfrl.sources.rules import RuleCandidateSource, _project_target_version

MODULE = textwrap.dedent('''\
    from typing import List


    def positives_doubled(xs):
        out = []
        for x in xs:
            if x > 0:
                out.append(x * 2)
        return out


    def as_dict(items):
        return dict([(k, v) for k, v in items])


    def already_clean(xs):
        return sum(x * x for x in xs)


    def annotated(xs: List[int]) -> List[int]:
        return sorted(xs)


    def by_first(pairs):
        """Sort pairs by their first item."""
        return sorted(pairs, key=lambda p: p[0])


    class Store:
        class Shelf:
            def labels(self, items):
                return [item for item in items]

        @staticmethod
        def keys(mapping):
            return [k for k in mapping]

        def names(self, rows):
            return [row for row in rows]
''')


@pytest.fixture
def module(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nrequires-python = '>=3.11'\n")
    path = tmp_path / "store.py"
    path.write_text(MODULE)
    return path


def target(module: Path, qualname: str) -> FunctionTarget:
    return locate_function(f"{module}::{qualname}")


def assert_usable(tgt: FunctionTarget, code: str) -> None:
    """A candidate must pass the static check and splice into a file that parses."""
    assert check_candidate(tgt, code) is None, check_candidate(tgt, code)
    ast.parse(splice(tgt, code))


# --- file source -----------------------------------------------------------------------------


def test_file_sources_follow_the_protocol() -> None:
    assert isinstance(FileCandidateSource([]), CandidateSource)
    assert isinstance(RuleCandidateSource(), CandidateSource)
    assert FileCandidateSource([]).name == "file" and RuleCandidateSource().name == "rules"


def test_file_with_just_the_function_or_markdown(module: Path, tmp_path: Path) -> None:
    tgt = target(module, "as_dict")
    plain = tmp_path / "plain.py"
    plain.write_text("def as_dict(items):\n    return dict(items)\n")
    markdown = tmp_path / "answer.md"
    markdown.write_text("Try this:\n\n```python\ndef as_dict(items):\n    return {k: v for k, v in"
                        " items}\n```\n")
    candidates = list(FileCandidateSource([plain, markdown]).generate(tgt, 8))
    assert [(c.source, c.label) for c in candidates] == [("file", str(plain)),
                                                         ("file", str(markdown))]
    assert candidates[0].code == "def as_dict(items):\n    return dict(items)\n"
    assert candidates[1].code == "def as_dict(items):\n    return {k: v for k, v in items}\n"
    for candidate in candidates:
        assert_usable(tgt, candidate.code)


def test_file_with_a_whole_module_gives_the_named_function(module: Path, tmp_path: Path) -> None:
    whole = tmp_path / "rewrite.py"
    whole.write_text(textwrap.dedent("""\
        import itertools


        def helper():
            return 1


        def as_dict(items):
            return dict(items)


        class Store:
            class Shelf:
                def labels(self, items):
                    return list(items)

            @staticmethod
            def keys(mapping):
                return list(mapping)
        """))
    source = FileCandidateSource([whole])
    (function,) = source.generate(target(module, "as_dict"), 8)
    assert function.code == "def as_dict(items):\n    return dict(items)\n"
    (nested,) = source.generate(target(module, "Store.Shelf.labels"), 8)
    assert nested.code == "def labels(self, items):\n    return list(items)\n"
    (static,) = source.generate(target(module, "Store.keys"), 8)
    assert static.code == "@staticmethod\ndef keys(mapping):\n    return list(mapping)\n"
    assert_usable(target(module, "Store.keys"), static.code)


def test_file_that_does_not_parse_is_still_a_candidate(module: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def as_dict(items):\n    return dict(items\n")
    (candidate,) = FileCandidateSource([broken]).generate(target(module, "as_dict"), 8)
    assert "does not parse" in check_candidate(target(module, "as_dict"), candidate.code)


def test_file_problems_raise_after_the_good_files(module: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("def as_dict(items):\n    return dict(items)\n")
    other = tmp_path / "other.py"
    other.write_text("import os\n\n\ndef unrelated():\n    return os.sep\n")
    missing = tmp_path / "missing.py"
    produced = FileCandidateSource([missing, good, other]).generate(target(module, "as_dict"), 8)
    assert next(produced).label == str(good)
    with pytest.raises(CandidateSourceError) as info:
        next(produced)
    message = str(info.value)
    assert f"candidate file {missing} does not exist" in message
    assert f"candidate file {other} does not define as_dict" in message


def test_file_source_respects_the_limit(module: Path, tmp_path: Path) -> None:
    paths = []
    for index in range(3):
        path = tmp_path / f"c{index}.py"
        path.write_text(f"def as_dict(items):\n    return dict(items) or {index}\n")
        paths.append(path)
    assert len(list(FileCandidateSource(paths).generate(target(module, "as_dict"), 2))) == 2


# --- rule source -----------------------------------------------------------------------------


def test_rules_turn_an_appending_loop_into_a_comprehension(module: Path) -> None:
    tgt = target(module, "positives_doubled")
    candidates = list(RuleCandidateSource().generate(tgt, 8))
    assert candidates, "PERF401 should fire on the appending loop"
    first = candidates[0]
    assert first.source == "rules"
    assert first.label.startswith("ruff PERF401")
    assert first.code == (
        "def positives_doubled(xs):\n    out = [x * 2 for x in xs if x > 0]\n    return out\n"
    )
    for candidate in candidates:
        assert_usable(tgt, candidate.code)


def test_rules_simplify_dict_of_list_comprehension(module: Path) -> None:
    tgt = target(module, "as_dict")
    candidates = list(RuleCandidateSource().generate(tgt, 8))
    assert [c.label for c in candidates] == ["ruff C404,C416"]
    assert candidates[0].code == "def as_dict(items):\n    return dict(items)\n"
    assert_usable(tgt, candidates[0].code)


def test_each_family_alone_then_all_together(tmp_path: Path) -> None:
    path = tmp_path / "combo.py"
    path.write_text("def combo(xs):\n    out = []\n    for x in xs:\n"
                    "        out.append(dict([(x, x)]))\n    return out\n")
    tgt = locate_function(f"{path}::combo")
    candidates = list(RuleCandidateSource().generate(tgt, 8))
    assert [c.label for c in candidates] == ["ruff PERF401", "ruff C406", "ruff PERF401,C406"]
    assert candidates[2].code == "def combo(xs):\n    out = [{x: x} for x in xs]\n    return out\n"
    for candidate in candidates:
        assert_usable(tgt, candidate.code)


def test_rules_give_nothing_for_a_clean_function(module: Path) -> None:
    assert list(RuleCandidateSource().generate(target(module, "already_clean"), 8)) == []


def test_annotation_only_fixes_are_not_candidates(module: Path) -> None:
    # UP006 (List -> list) fires here, but annotations do not change the speed of a call.
    assert list(RuleCandidateSource().generate(target(module, "annotated"), 8)) == []


def test_methods_are_linted_inside_a_class_and_unwrapped(module: Path) -> None:
    for qualname, expected in [
        ("Store.names", "def names(self, rows):\n    return list(rows)\n"),
        ("Store.keys", "@staticmethod\ndef keys(mapping):\n    return list(mapping)\n"),
        ("Store.Shelf.labels", "def labels(self, items):\n    return list(items)\n"),
    ]:
        tgt = target(module, qualname)
        (candidate,) = RuleCandidateSource().generate(tgt, 8)
        assert candidate.label == "ruff C416"
        assert candidate.code == expected
        assert_usable(tgt, candidate.code)


def test_import_added_by_a_fix_moves_into_the_function(module: Path) -> None:
    tgt = target(module, "by_first")
    candidates = list(RuleCandidateSource().generate(tgt, 8))
    furb = [c for c in candidates if "FURB118" in c.label]
    assert furb, [c.label for c in candidates]
    assert furb[0].label.endswith("(import moved into the function)")
    assert furb[0].code == (
        "def by_first(pairs):\n"
        '    """Sort pairs by their first item."""\n'
        "    import operator\n"
        "    return sorted(pairs, key=operator.itemgetter(0))\n"
    )
    assert_usable(tgt, furb[0].code)


def test_existing_module_import_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "ops.py"
    path.write_text("import operator\n\n\ndef by_first(pairs):\n"
                    "    return sorted(pairs, key=lambda p: p[0])\n")
    (candidate,) = RuleCandidateSource(families=["FURB"]).generate(
        locate_function(f"{path}::by_first"), 8
    )
    assert candidate.code == ("def by_first(pairs):\n"
                              "    return sorted(pairs, key=operator.itemgetter(0))\n")
    assert candidate.label == "ruff FURB118"


def test_rules_respect_the_limit(module: Path) -> None:
    tgt = target(module, "by_first")
    assert len(list(RuleCandidateSource().generate(tgt, 1))) == 1
    assert list(RuleCandidateSource().generate(tgt, 0)) == []


def test_user_files_are_not_touched(module: Path) -> None:
    before = module.read_bytes()
    list(RuleCandidateSource().generate(target(module, "positives_doubled"), 8))
    assert module.read_bytes() == before
    assert sorted(p.name for p in module.parent.iterdir()) == ["pyproject.toml", "store.py"]


def test_ruff_that_cannot_run_is_a_source_error(module: Path, tmp_path: Path) -> None:
    source = RuleCandidateSource(ruff_command=[str(tmp_path / "no-such-ruff")])
    with pytest.raises(CandidateSourceError, match="ruff is not runnable"):
        list(source.generate(target(module, "as_dict"), 8))


def test_ruff_environment_variables_do_not_leak_in(module: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # RUFF_OUTPUT_FORMAT would turn the JSON run into text; the source must not inherit it.
    monkeypatch.setenv("RUFF_OUTPUT_FORMAT", "concise")
    monkeypatch.setenv("RUFF_NO_CACHE", "false")
    (candidate,) = RuleCandidateSource().generate(target(module, "as_dict"), 8)
    assert candidate.label == "ruff C404,C416"


def test_ruff_rejecting_its_arguments_is_a_source_error(module: Path) -> None:
    source = RuleCandidateSource(target_version="py99")
    with pytest.raises(CandidateSourceError, match=r"ruff failed \(exit 2\).*py99"):
        list(source.generate(target(module, "as_dict"), 8))
    source = RuleCandidateSource(families=["NOPE"])
    with pytest.raises(CandidateSourceError, match="does not know a rule family.*NOPE"):
        list(source.generate(target(module, "as_dict"), 8))


def test_ruff_that_hangs_is_stopped(module: Path, tmp_path: Path) -> None:
    # Real ruff cannot be made slow on demand: this stand-in answers --version like ruff
    # and then hangs on the actual check, which is what the timeout must cut short.
    fake = tmp_path / "slow_ruff.py"
    fake.write_text("import sys, time\n"
                    "if sys.argv[1:] == ['--version']:\n    print('ruff 0.0.0')\n"
                    "else:\n    time.sleep(30)\n")
    source = RuleCandidateSource(ruff_command=[sys.executable, str(fake)], timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(CandidateSourceError, match="ruff took longer than 1 s"):
        list(source.generate(target(module, "as_dict"), 8))
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ("[project]\nrequires-python = '>=3.9'\n", "py39"),
        ("[project]\nrequires-python = '>= 3.12, <4'\n", "py312"),
        ("[project]\nname = 'x'\n", None),
        ("[project]\nrequires-python = '>=3.2'\n", None),
        ("not toml [", None),
    ],
)
def test_target_version_comes_from_requires_python(tmp_path: Path, pyproject: str,
                                                   expected: str | None) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    assert _project_target_version(tmp_path) == expected
    assert _project_target_version(tmp_path / "no-such-folder") is None
