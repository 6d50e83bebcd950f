"""The typed settings spec: camelCase on the wire, invalid values replaced by defaults with a
message naming the key, engine settings derived from it."""

from __future__ import annotations

from pathlib import Path

from perfrl.lsp.config import DEFAULTS, LspSettings, parse_settings, settings_section, to_wire


def test_defaults_match_the_protocol_document():
    wire = to_wire(DEFAULTS)
    assert wire == {
        "interpreter": None, "sources": ["rules", "model"], "numCandidates": 8,
        "threshold": 1.10, "testTimeout": 120.0, "benchTimeout": 60.0, "modelPath": None,
        "sandbox": "auto", "temperature": None, "maxConcurrentJobs": 1,
        "extraCandidateDirs": [], "feedbackRound": True, "seed": None,
    }
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lsp-protocol.md").read_text()
    for key in wire:
        assert f"`perfrl.{key}`" in doc


def test_valid_values_are_taken_in_either_payload_shape():
    payload = {"numCandidates": 3, "sources": ["rules"], "threshold": 1.5, "sandbox": "none",
               "maxConcurrentJobs": 2.0, "interpreter": "/usr/bin/python3",
               "server": {"interpreter": "x"}}
    for shape in (payload, {"perfrl": payload}):
        settings, problems = parse_settings(shape)
        assert problems == []
        assert settings.num_candidates == 3 and settings.sources == ("rules",)
        assert settings.max_concurrent_jobs == 2 and settings.sandbox == "none"
    engine = settings.engine_settings(cache_dir=Path("/c"))
    assert engine.use_bwrap is False and engine.threshold == 1.5
    assert engine.interpreter == "/usr/bin/python3" and engine.cache_dir == Path("/c")


def test_invalid_values_fall_back_to_defaults_with_messages():
    settings, problems = parse_settings({
        "numCandidates": 0, "threshold": "fast", "sources": ["rules", "gpt"],
        "sandbox": True, "temperature": float("nan"), "testTimeout": -1,
        "maxConcurrentJobs": True, "extraCandidateDirs": "dir", "modelPath": 3, "typo": 1,
    })
    # A bad sources list narrows to rules only: the default would turn the model on.
    assert settings == LspSettings(sources=("rules",))
    by_key = {p.key: p.message for p in problems}
    assert set(by_key) == {
        "perfrl.numCandidates", "perfrl.threshold", "perfrl.sources", "perfrl.sandbox",
        "perfrl.temperature", "perfrl.testTimeout", "perfrl.maxConcurrentJobs",
        "perfrl.extraCandidateDirs", "perfrl.modelPath", "perfrl.typo",
    }
    assert by_key["perfrl.numCandidates"] == (
        "setting perfrl.numCandidates must be between 1 and 64 (got 0); using the default 8")
    assert "unknown source(s) ['gpt']" in by_key["perfrl.sources"]
    assert "using ['rules']" in by_key["perfrl.sources"]
    assert "unknown setting perfrl.typo" in by_key["perfrl.typo"]


def test_the_temperature_is_a_number_or_none_for_the_models_own():
    assert parse_settings({"temperature": 0.3})[0].temperature == 0.3
    assert parse_settings({"temperature": None})[0].temperature is None
    # VS Code's default (a number-or-null setting gets no field in its Settings editor).
    assert parse_settings({"temperature": 0})[0] == parse_settings({})[0]
    assert parse_settings({"temperature": 0.0})[0].temperature is None
    settings, problems = parse_settings({"temperature": 9})
    assert settings.temperature is None and problems[0].key == "perfrl.temperature"
    assert "must be between 0 and 5" in problems[0].message


def test_the_sampling_seed_is_a_whole_number_or_none():
    assert parse_settings({"seed": 7})[0].seed == 7
    assert parse_settings({"seed": None})[0].seed is None
    settings, problems = parse_settings({"seed": -1})
    assert settings.seed is None and problems[0].key == "perfrl.seed"
    assert "must be between 0 and 2147483647" in problems[0].message


def test_missing_keys_keep_the_base_and_bad_shapes_are_reported():
    base = LspSettings(num_candidates=4)
    assert parse_settings(None, base) == (base, [])
    assert parse_settings({"threshold": 2}, base)[0] == LspSettings(num_candidates=4, threshold=2)
    settings, problems = parse_settings(["not", "an", "object"], base)
    assert settings == base and problems[0].key == "perfrl"
    assert settings_section({"perfrl": {"a": 1}, "other": 2}) == {"a": 1}


def test_candidate_files_are_found_by_qualname(tmp_path):
    (tmp_path / "Warehouse.low_stock.py").write_text("def low_stock(self, t):\n    return []\n")
    settings = LspSettings(extra_candidate_dirs=(str(tmp_path), str(tmp_path / "missing")))
    assert settings.candidate_files("Warehouse.low_stock") == [
        tmp_path / "Warehouse.low_stock.py"]
    assert settings.candidate_files("other") == []


def test_a_bad_value_keeps_the_value_in_effect_and_says_so():
    """Issue 17 point 6: a bad value never widens what runs, and the message is true."""
    in_effect = LspSettings(sources=("rules",), sandbox="bwrap", num_candidates=3)
    settings, problems = parse_settings(
        {"sources": ["rules", "modle"], "sandbox": "off", "numCandidates": 2},
        base=DEFAULTS, previous=in_effect)
    assert settings.sources == ("rules",) and settings.sandbox == "bwrap"
    assert settings.num_candidates == 2
    by_key = {p.key: p.message for p in problems}
    assert by_key["perfrl.sources"].endswith("keeping the value in effect ['rules']")
    assert by_key["perfrl.sandbox"].endswith("keeping the value in effect 'bwrap'")
    # A configuration answer that is not an object keeps the settings in effect.
    kept, problems = parse_settings(["not", "an", "object"], base=DEFAULTS, previous=in_effect)
    assert kept == in_effect
    assert problems[0].message.endswith("keeping the settings in effect")
