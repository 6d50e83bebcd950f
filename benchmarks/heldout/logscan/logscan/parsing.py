"""Turning raw log lines into records."""

from __future__ import annotations

import re
from typing import Optional

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ACCESS_LINE = (
    r'(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) - - \[(?P<when>[^\]]+)\] '
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'(?P<ms>\d+)'
)


def parse_app_lines(lines: list[str]) -> list[dict]:
    """Records of the application log lines ``2026-03-01 12:00:01 LEVEL module: message``.

    Lines in another shape are skipped.
    """
    records = []
    for line in lines:
        pattern = re.compile(
            r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) "
            r"(?P<level>" + "|".join(LEVELS) + r") (?P<module>[\w.]+): (?P<message>.*)$"
        )
        found = pattern.match(line)
        if found is None:
            continue
        records.append(found.groupdict())
    return records


def parse_access_line(line: str) -> Optional[dict]:
    found = re.match(ACCESS_LINE, line)
    if found is None:
        return None
    record = found.groupdict()
    record["status"] = int(record["status"])
    record["bytes"] = 0 if record["bytes"] == "-" else int(record["bytes"])
    record["ms"] = int(record["ms"])
    return record


def split_query_strings(paths: list[str]) -> list[tuple[str, dict[str, str]]]:
    """(path, query parameters) for each request path; a parameter without '=' maps to ''."""
    result = []
    for raw in paths:
        if "?" in raw:
            path, query = raw.split("?", 1)
        else:
            path, query = raw, ""
        params = {}
        for pair in query.split("&"):
            if not pair:
                continue
            if "=" in pair:
                key, value = pair.split("=", 1)
            else:
                key, value = pair, ""
            if key not in params.keys():
                params[key] = value
        result = result + [(path, params)]
    return result
