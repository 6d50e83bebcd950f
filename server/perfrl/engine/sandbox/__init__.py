"""The sandbox: where candidate code runs, and how the engine reads what it left behind.

Callers need only these names::

    sandbox = Sandbox(project_root, interpreter, settings)
    with sandbox.workspace({"pkg/mod.py": new_text}) as ws:
        result: RunResult = ws.run_python([...], timeout_s=60)
        report = read_workspace_file(ws.data_dir / "report.json")
        write_workspace_file(ws.data_dir / "input.txt", b"...")   # between runs only

:class:`WorkspaceSurprise` (with :class:`UnsafeWorkspaceFile` and :class:`WorkspaceTampered`)
is what the candidate's changes to its workspace raise; it is that candidate's ``crashed``
verdict, never the end of a job. :func:`is_skipped_dir` is the one rule for folders that are
not project code (not copied into a workspace, not part of the baseline cache key).
The modules behind it: ``workspace`` (Sandbox, Workspace), ``run`` (one process tree),
``bwrap`` (mounts), ``limits`` (rlimits, cgroups), ``launcher`` (the trusted exec step),
``env`` (scrubbed environment), ``project_copy`` (copy and removal), ``files`` (reading),
``protections`` (what the report says), ``namespace`` (pid namespace of stale-resource names).
"""

from perfrl.engine.sandbox.files import (
    MAX_REPORT_BYTES,
    UnsafeWorkspaceFile,
    WorkspaceSurprise,
    read_workspace_file,
    write_workspace_file,
)
from perfrl.engine.sandbox.limits import MAX_FILE_BYTES
from perfrl.engine.sandbox.project_copy import SKIPPED_DIRS, is_skipped_dir
from perfrl.engine.sandbox.protections import INSTALL_HINT, unsandboxed_warning
from perfrl.engine.sandbox.run import MAX_OUTPUT_BYTES, RunResult
from perfrl.engine.sandbox.workspace import (
    Sandbox,
    Workspace,
    WorkspaceTampered,
    clean_up_after_dead_servers,
)

__all__ = [
    "INSTALL_HINT",
    "MAX_FILE_BYTES",
    "MAX_OUTPUT_BYTES",
    "MAX_REPORT_BYTES",
    "SKIPPED_DIRS",
    "RunResult",
    "Sandbox",
    "UnsafeWorkspaceFile",
    "Workspace",
    "WorkspaceSurprise",
    "WorkspaceTampered",
    "clean_up_after_dead_servers",
    "is_skipped_dir",
    "read_workspace_file",
    "unsandboxed_warning",
    "write_workspace_file",
]
