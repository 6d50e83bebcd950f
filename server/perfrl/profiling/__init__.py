"""Where the time goes: profile a project's tests or a command in the sandbox, attribute it
to the project's functions, and show it (table, JSON, HTML icicle).

Front door: :func:`profile_project`, :class:`ProjectProfile`, :func:`render_table`,
:func:`profile_json`, :func:`render_html`.
"""

from perfrl.profiling.collect import FunctionProfile, ProjectProfile, profile_project
from perfrl.profiling.render import profile_json, render_html, render_table

__all__ = ["FunctionProfile", "ProjectProfile", "profile_json", "profile_project",
           "render_html", "render_table"]
