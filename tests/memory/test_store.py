"""The memory of verdicts: a SQLite store per project that concurrent processes can write,
the ``perfrl memory`` commands, and replay learning from a project's own verified rewrite."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from perfrl.engine.locate import locate_function
from perfrl.memory import store
from perfrl.sources.replay import ReplayCandidateSource

pytestmark = pytest.mark.timeout(900)

REPORT = {
    "function": "pkg/mod.py::f", "original_source": "def f(xs):\n    return sorted(xs)[0]\n",
    "threshold": 1.1, "baseline": {"tests_calling": 2},
    "candidates": [
        {"source": "file", "label": "a.py", "verdict": "faster", "reason": "ok",
         "code": "def f(xs):\n    return min(xs)\n", "tests": {"run": 2, "passed": 2},
         "calls_compared": 3, "speedup": {"median": 3.0, "low": 2.5, "high": 3.4}},
        {"source": "rules", "label": "SIM", "verdict": "failed_tests", "reason": "t failed",
         "code": "def f(xs):\n    return xs[0]\n", "tests": {"run": 2, "passed": 1},
         "calls_compared": 0, "speedup": None},
    ],
}

WRITER = textwrap.dedent('''\
    import json, sys
    from pathlib import Path
    from perfrl.memory.store import record_report
    report = json.loads(sys.argv[2])
    for i in range(int(sys.argv[3])):
        report["function"] = f"pkg/mod.py::f{i}"
        assert record_report(report, Path(sys.argv[1])) == 2
''')


def test_concurrent_writers_lose_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(project), json.dumps(REPORT),
                               "25"]) for _ in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    db = store.project_db(project)
    assert len(store.list_records(db)) == 4 * 25 * 2
    assert len(store.list_records(db, verdict="faster")) == 100
    first = store.list_records(db, limit=1)[0]
    assert first.abstracted != first.original and "v0" in first.abstracted
    assert store.verified_pairs(db) == [(REPORT["original_source"],
                                         REPORT["candidates"][0]["code"], first.function)]


def test_a_broken_store_never_fails_the_job(tmp_path, monkeypatch):
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    db = store.project_db(project)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    assert store.record_report(REPORT, project) == 0


def _perfrl(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "perfrl", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900,
                          env={"PERFRL_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"})


def test_memory_commands_list_show_export_clear(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(cache))
    project = tmp_path / "proj"
    project.mkdir()
    store.record_report(REPORT, project)
    listed = _perfrl("memory", "list", "--json", cwd=project, cache=cache)
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["verdict"] for r in records] == ["failed_tests", "faster"]
    shown = _perfrl("memory", "show", str(records[1]["id"]), cwd=project, cache=cache)
    assert json.loads(shown.stdout)["speedup"] == 3.0
    out = tmp_path / "records.jsonl"
    exported = _perfrl("memory", "export", str(out), "--verdict", "faster", cwd=project,
                       cache=cache)
    assert exported.returncode == 0 and len(out.read_text().splitlines()) == 1
    refused = _perfrl("memory", "clear", cwd=project, cache=cache)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "removed 2 record(s)" in _perfrl("memory", "clear", "--yes", cwd=project,
                                            cache=cache).stdout
    assert "no records" in _perfrl("memory", "list", cwd=project, cache=cache).stdout
    missing = _perfrl("memory", "show", "999", cwd=project, cache=cache)
    assert missing.returncode == 2 and "no record 999" in missing.stderr


PROJECT_CODE = textwrap.dedent('''\
    def doubled(values):
        """Every value twice as large."""
        out = []
        for v in values:
            out = out + [v * 2]
        return out


    def labels(items):
        """Display names of the items."""
        names = []
        for item in items:
            names = names + [item["name"].title()]
        return names
''')

PROJECT_TESTS = textwrap.dedent('''\
    from app.lists import doubled, labels


    def test_doubled():
        assert doubled(list(range(3000)))[-1] == 5998


    def test_labels():
        items = [{"name": f"item {i}"} for i in range(3000)]
        assert labels(items)[:2] == ["Item 0", "Item 1"]
''')

HAND_WRITTEN = 'def doubled(values):\n    """Every value twice as large."""\n' \
               '    return [v * 2 for v in values]\n'


def test_a_verified_rewrite_teaches_replay_a_similar_function(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    project = tmp_path / "proj"
    (project / "app").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "pyproject.toml").write_text("")
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "lists.py").write_text(PROJECT_CODE)
    (project / "tests" / "test_lists.py").write_text(PROJECT_TESTS)
    labels = locate_function("app/lists.py::labels", project_root=project)
    # Before the project's first verified rewrite, only shipped seed rules may apply (they
    # know `x = x + [e]` -> append); a rule "verified on" this project is learned below.
    monkeypatch.setenv("PERFRL_CACHE_DIR", str(cache))
    assert not [c for c in ReplayCandidateSource().generate(labels, 8)
                if c.label.startswith("replay: verified on")]
    (tmp_path / "hand.py").write_text(HAND_WRITTEN)
    first = _perfrl("optimize", "app/lists.py::doubled", "--candidate", str(tmp_path / "hand.py"),
                    "--python", sys.executable, "--json", cwd=project, cache=cache)
    assert first.returncode == 0, first.stderr
    learned = list(ReplayCandidateSource().generate(labels, 8))
    # The project's own rules come first.
    assert learned and learned[0].label == "replay: verified on app/lists.py::doubled"
    assert "return [item['name'].title() for item in items]" in learned[0].code
    second = _perfrl("optimize", "app/lists.py::labels", "--sources", "replay", "--python",
                     sys.executable, "--json", cwd=project, cache=cache)
    report = json.loads(second.stdout)
    assert second.returncode == 0, (second.stderr, [c["reason"] for c in report["candidates"]])
    replayed = [c for c in report["candidates"] if c["label"].startswith("replay: verified on")]
    assert replayed and replayed[0]["verdict"] == "faster"


def test_a_broken_store_gives_no_examples_and_no_rules_instead_of_failing(tmp_path, monkeypatch):
    """Readers of the memory (replay's rules, retrieval's examples) run inside candidate
    generation: a database that cannot be read must mean "nothing learned", not a crash."""
    from perfrl.memory.retrieval import nearest_pair
    from perfrl.sources.replay import project_rules

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    project = tmp_path / "proj"
    project.mkdir()
    db = store.project_db(project)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database" * 100)
    assert store.verified_pairs(db) == []
    assert project_rules(project) == []
    assert nearest_pair(REPORT["original_source"], project) is None


def test_memory_list_suggests_adapting_a_model_after_enough_verified_rewrites(
        tmp_path, monkeypatch, capsys):
    from perfrl.cli.main import main

    monkeypatch.setenv("PERFRL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(store, "ADAPT_SUGGESTION_PAIRS", 2)
    project = tmp_path / "proj"
    project.mkdir()
    store.record_report(REPORT, project)
    assert main(["memory", "list", "--project", str(project)]) == 0
    assert "perfrl-train adapt" not in capsys.readouterr().out  # one pair: not yet
    second = {**REPORT, "original_source": "def g(xs):\n    return sorted(xs)[-1]\n",
              "candidates": [{**REPORT["candidates"][0],
                              "code": "def g(xs):\n    return max(xs)\n"}]}
    store.record_report(second, project)
    assert main(["memory", "list", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "note: 2 rewrites were verified faster here" in out
    assert f"perfrl-train adapt --checkpoint CKPT --project {project.resolve()}" in out
