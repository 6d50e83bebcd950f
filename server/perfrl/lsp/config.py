"""The language server's settings: one typed spec, camelCase on the wire (section ``perfrl``).

A caller may rely on :func:`parse_settings` never raising, and on a bad value never widening
what runs: an invalid value keeps the previous valid one (the settings in effect), or, when
there is none yet, its default, except ``sources``, which then narrows to ``["rules"]`` (the
default would turn the model on). Each is described by a :class:`SettingProblem` whose
message names the key, what was wrong and the value actually used (the server shows these
with ``window/showMessage``). Keys the
server does not know are reported too (a typo such as ``numCandidate`` should not pass
silently), except ``server``, which belongs to the editor client (``perfrl.server.interpreter``).

The wire format is documented in ``docs/lsp-protocol.md``; ``extraCandidateDirs`` is a
testing/power-user setting not shown in editor UIs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from perfrl.engine.settings import (
    DEFAULT_BENCH_TIMEOUT_S,
    DEFAULT_FEEDBACK_ROUND,
    DEFAULT_NUM_CANDIDATES,
    DEFAULT_SANDBOX,
    DEFAULT_SOURCES,
    DEFAULT_TEMPERATURE,
    DEFAULT_TEST_TIMEOUT_S,
    DEFAULT_THRESHOLD,
    SANDBOX_MODES,
    EngineSettings,
)

SECTION = "perfrl"
KNOWN_SOURCES = ("rules", "model", "replay")
#: Keys under ``perfrl`` that belong to an editor client, not to the server.
CLIENT_ONLY_KEYS = frozenset({"server", "trace"})


@dataclass(frozen=True)
class LspSettings:
    """Everything a user can set. Field names are snake_case; the wire uses camelCase."""

    interpreter: str | None = None
    sources: tuple[str, ...] = DEFAULT_SOURCES
    num_candidates: int = DEFAULT_NUM_CANDIDATES
    threshold: float = DEFAULT_THRESHOLD
    test_timeout: float = DEFAULT_TEST_TIMEOUT_S
    bench_timeout: float = DEFAULT_BENCH_TIMEOUT_S
    model_path: str | None = None
    sandbox: str = DEFAULT_SANDBOX
    #: None: the model's own (its ``perfrl_model.json``); a number overrides it.
    temperature: float | None = DEFAULT_TEMPERATURE
    max_concurrent_jobs: int = 1
    feedback_round: bool = DEFAULT_FEEDBACK_ROUND
    #: Testing/power users: folders holding hand-written candidates named ``<qualname>.py``.
    extra_candidate_dirs: tuple[str, ...] = field(default_factory=tuple)
    #: Testing/power users: the model source's sampling seed (None: a fresh draw each job), so
    #: that a job's candidates can be reproduced on the same machine and model.
    seed: int | None = None

    def engine_settings(self, cache_dir: Path | None = None) -> EngineSettings:
        """The engine's view of these settings (``cache_dir`` holds baseline caches)."""
        return EngineSettings(
            interpreter=self.interpreter,
            threshold=self.threshold,
            test_timeout_s=self.test_timeout,
            bench_timeout_s=self.bench_timeout,
            use_bwrap=SANDBOX_MODES[self.sandbox],
            cache_dir=cache_dir,
            feedback_round=self.feedback_round,
        )

    def candidate_files(self, qualname: str) -> list[Path]:
        """Existing ``<dir>/<qualname>.py`` files from ``extraCandidateDirs``, in order."""
        found = []
        for folder in self.extra_candidate_dirs:
            path = Path(folder).expanduser() / f"{qualname}.py"
            if path.is_file():
                found.append(path)
        return found


@dataclass(frozen=True)
class SettingProblem:
    """One invalid setting: ``key`` is the full wire name (``perfrl.numCandidates``)."""

    key: str
    message: str


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


DEFAULTS = LspSettings()
#: What an invalid value falls back to when there is no previous valid value, where the
#: default would run more than the user may have meant.
NARROW_FALLBACKS: dict[str, Any] = {"sources": ("rules",)}
WIRE_NAMES = {camel(f.name): f.name for f in fields(LspSettings)}


# --- validators: return the converted value or raise ValueError("what is expected") -----------


def _optional_string(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError("must be a string or null")
    return value


def _number(low: float, high: float | None = None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value
        ):
            raise ValueError("must be a number")
        if value < low or (high is not None and value > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise ValueError(f"must be {bound}")
        return float(value)

    return check


def _positive_number(value: Any) -> float:
    number = _number(0.0)(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _optional_temperature(value: Any) -> float | None:
    # 0 (VS Code's default: its Settings editor shows no field for a number-or-null setting)
    # and null both mean the model's own; sampling at 0 is not a temperature anyway.
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                         and value == 0):
        return None
    return _number(0.0, 5.0)(value)


def _optional_seed(value: Any) -> int | None:
    return None if value is None else _integer(0, 2**31 - 1)(value)


def _sources(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'must be a list of source names from {list(KNOWN_SOURCES)}')
    unknown = [v for v in value if v not in KNOWN_SOURCES]
    if unknown:
        raise ValueError(f"has unknown source(s) {unknown}; known: {list(KNOWN_SOURCES)}")
    return tuple(dict.fromkeys(value))


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _sandbox(value: Any) -> str:
    if value not in SANDBOX_MODES:
        raise ValueError(f"must be one of {', '.join(repr(m) for m in SANDBOX_MODES)}")
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of folder paths")
    return tuple(value)


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "interpreter": _optional_string,
    "sources": _sources,
    "num_candidates": _integer(1, 64),
    "threshold": _positive_number,
    "test_timeout": _number(1.0, 3600.0),
    "bench_timeout": _number(1.0, 3600.0),
    "model_path": _optional_string,
    "sandbox": _sandbox,
    "temperature": _optional_temperature,
    "max_concurrent_jobs": _integer(1, 16),
    "feedback_round": _boolean,
    "extra_candidate_dirs": _string_list,
    "seed": _optional_seed,
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def settings_section(payload: Any) -> Any:
    """The ``perfrl`` part of a settings payload.

    Accepts what clients send: ``{"perfrl": {...}}`` (initializationOptions, push-style
    didChangeConfiguration) or the section itself (a ``workspace/configuration`` answer).
    """
    if isinstance(payload, dict) and isinstance(payload.get(SECTION), dict):
        return payload[SECTION]
    return payload


def parse_settings(
    payload: Any, base: LspSettings = DEFAULTS, previous: LspSettings | None = None,
) -> tuple[LspSettings, list[SettingProblem]]:
    """Typed settings from a wire payload; never raises.

    Keys missing from ``payload`` keep their value from ``base``. An invalid value keeps its
    value from ``previous`` (the settings in effect) when given, else falls back to the
    default (narrowed by :data:`NARROW_FALLBACKS`), and produces a :class:`SettingProblem`
    naming the value used. ``None`` or an empty payload gives ``base`` unchanged; a payload
    that is not an object gives ``previous`` (else ``base``) unchanged.
    """
    section = settings_section(payload)
    if section is None:
        return base, []
    if not isinstance(section, dict):
        kept = "keeping the settings in effect" if previous is not None else (
            "using the defaults" if base == DEFAULTS else "using the initialization options")
        return (previous if previous is not None else base), [SettingProblem(
            SECTION, f"settings '{SECTION}' must be an object, got {_shown(section)}; {kept}")]
    problems: list[SettingProblem] = []
    values: dict[str, Any] = {}
    for wire_key, raw in section.items():
        name = WIRE_NAMES.get(wire_key)
        if name is None:
            if wire_key not in CLIENT_ONLY_KEYS:
                known = ", ".join(sorted(WIRE_NAMES))
                problems.append(SettingProblem(
                    f"{SECTION}.{wire_key}",
                    f"unknown setting {SECTION}.{wire_key} was ignored (known: {known})"))
            continue
        try:
            values[name] = VALIDATORS[name](raw)
        except (ValueError, TypeError) as exc:
            if previous is not None:
                used, how = getattr(previous, name), "keeping the value in effect"
            else:
                used = NARROW_FALLBACKS.get(name, getattr(DEFAULTS, name))
                how = "using the default" if used == getattr(DEFAULTS, name) else "using"
            problems.append(SettingProblem(
                f"{SECTION}.{wire_key}",
                f"setting {SECTION}.{wire_key} {exc} (got {_shown(raw)}); "
                f"{how} {_shown(list(used) if isinstance(used, tuple) else used)}"))
            values[name] = used
    return replace(base, **values), problems


def to_wire(settings: LspSettings) -> dict[str, Any]:
    """The camelCase form of ``settings`` (lists for tuples), e.g. for logging."""
    out = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        out[camel(f.name)] = list(value) if isinstance(value, tuple) else value
    return out
