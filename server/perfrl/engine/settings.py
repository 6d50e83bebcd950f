"""Engine settings: one typed spec shared by the CLI, the language server and training's reward.

The language server exposes these as ``perfrl.*`` settings in camelCase (see
``server/perfrl/lsp/config.py``); the CLI as flags. Defaults are chosen for a 2-core laptop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EngineSettings:
    # Interpreter that runs the project's tests. None: the project's .venv if present, else python3.
    interpreter: str | None = None
    # A candidate is "faster" only when the lower bound of the 95% CI clears this ratio.
    threshold: float = 1.10
    # Wall-clock limit for one pytest run (baseline or candidate), seconds.
    test_timeout_s: float = 120.0
    # Wall-clock limit for the equivalence + benchmark run of one candidate, seconds.
    bench_timeout_s: float = 60.0
    # Time the benchmark may spend measuring (both implementations together), seconds.
    bench_budget_s: float = 1.5
    # The benchmark's rounds are split over this many fresh processes (fewer when a process
    # takes too long for the time limit): where the interpreter and the data land in memory
    # shifts a function's speed by up to ~10% per process, a bias that more rounds inside one
    # process cannot average out (measured on benchmarks/bench_verifier.py's kernels).
    bench_processes: int = 3
    # At most this many real calls are recorded per function in the baseline run.
    max_captured_calls: int = 64
    # Resource limits for every sandboxed process.
    cpu_seconds: int = 120
    memory_mb: int = 2048
    max_processes: int = 64
    # Float comparison in the equivalence check.
    float_rel_tol: float = 1e-9
    float_abs_tol: float = 1e-12
    # None: use bubblewrap when it is installed. False: never. True: require it.
    use_bwrap: bool | None = None
    # Where baselines are cached (keyed by the content of the project files).
    cache_dir: Path | None = None
    # What the memory of verdicts keeps (perfrl.memory.store): "project" (a database per
    # project in the user's cache), "user" (also a user-wide one), "off".
    memory: str = "project"
    # When every candidate failed, a second round shows a model trained for it
    # (feedback_format "feedback-v1") the best failed candidate and its verdict, and asks
    # again (perfrl.engine.feedback_round). Models without that training never run one.
    feedback_round: bool = True
    # Extra arguments for pytest (for example ["-p", "no:cacheprovider"]).
    pytest_args: list[str] = field(default_factory=list)


# --- what a user chooses, with one default each ------------------------------------------
# The CLI's flags and the language server's settings (perfrl.lsp.config.LspSettings) take
# their defaults from here and from EngineSettings; the VS Code package.json is checked against
# LspSettings by a test, so the three cannot drift apart.
_ENGINE_DEFAULTS = EngineSettings()
DEFAULT_SOURCES: tuple[str, ...] = ("rules", "model")
DEFAULT_NUM_CANDIDATES = 8
# None: the model's own sampling temperature (its perfrl_model.json), so that a model is
# served as it was measured; a number overrides it.
DEFAULT_TEMPERATURE: float | None = None
DEFAULT_THRESHOLD = _ENGINE_DEFAULTS.threshold
DEFAULT_TEST_TIMEOUT_S = _ENGINE_DEFAULTS.test_timeout_s
DEFAULT_BENCH_TIMEOUT_S = _ENGINE_DEFAULTS.bench_timeout_s
DEFAULT_FEEDBACK_ROUND = _ENGINE_DEFAULTS.feedback_round
#: Sandbox modes as users name them, and what each means for EngineSettings.use_bwrap.
SANDBOX_MODES = {"auto": None, "bwrap": True, "none": False}
DEFAULT_SANDBOX = "auto"
