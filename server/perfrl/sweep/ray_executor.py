"""Fan a sweep's functions out over a Ray cluster (the ``distributed`` extra).

Each function is one Ray task that runs the whole engine job for it (baseline, tests,
equivalence, benchmark) on one node, so its A/B benchmark is measured on one machine. Tasks ask
for the custom resource ``perfrl`` when the cluster offers it (start each node with
``ray start ... --resources '{"perfrl": 1}'`` for one function per node at a time, so that two
benchmarks never share a node), else for ``cpus_per_function`` CPUs. Every node needs PerfRL
installed and the project at the same path (a shared checkout, as a CI sweep has); results come
back as plain JSON and are stored by the caller.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from perfrl.engine.settings import EngineSettings
from perfrl.engine.types import PerfRLError


def _task(project_root: str, spec: str, job, settings: EngineSettings) -> dict:
    from perfrl.sweep.run import optimize_one

    return optimize_one(Path(project_root), spec, job, settings)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast: Ray itself retries an unreachable head for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise PerfRLError(f"--address {address!r}: give the head node as HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise PerfRLError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
                          " (is `ray start --head` running there?)") from exc


def run_on_ray(
    project_root: Path,
    work: list[tuple[int, str]],
    job,
    settings: EngineSettings,
    address: str | None,
    store: Callable[[int, dict | None, str | None], None],
    cpus_per_function: float = 2.0,
) -> None:
    """Run ``work`` (index, spec) as Ray tasks on the cluster at ``address`` (None: start a
    local one); ``store(index, report, error)`` as each finishes. Raises PerfRLError when Ray
    is not installed or the cluster cannot be reached."""
    try:
        import ray
    except ModuleNotFoundError:
        raise PerfRLError("--executor ray needs Ray: pip install 'perfrl[distributed]'") from None
    if not work:
        return
    if address not in (None, "auto"):
        _check_reachable(address)
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                 include_dashboard=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PerfRLError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    try:
        if ray.cluster_resources().get("perfrl"):
            options = {"num_cpus": 0, "resources": {"perfrl": 1}}
        else:
            options = {"num_cpus": cpus_per_function}
        remote = ray.remote(max_retries=0)(_task).options(**options)
        pending = {remote.remote(str(project_root), spec, job, settings): index
                   for index, spec in work}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            try:
                report = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - a task's failure is that function's error
                cause = getattr(exc, "cause", None) or exc
                message = str(cause) if isinstance(cause, PerfRLError) else (
                    f"failed on the cluster: {type(cause).__name__}: {cause}")
                store(index, None, message)
            else:
                store(index, report, None)
    finally:
        ray.shutdown()
