"""The server's memory of the last workspace profile (``perfrl.profileProject``): plain state,
owned by :class:`perfrl.lsp.server.PerfServer`; the feature lives in ``features/hot_spots``."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfrl.profiling.collect import FunctionProfile, ProjectProfile


@dataclass
class HotSpots:
    """The last profile of the workspace, its hottest functions by (absolute path, qualname),
    and whether a profile is running now (one at a time)."""

    profile: ProjectProfile | None = None
    by_function: dict[tuple[str, str], FunctionProfile] = field(default_factory=dict)
    running: bool = False
