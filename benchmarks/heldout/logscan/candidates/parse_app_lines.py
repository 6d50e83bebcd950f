def parse_app_lines(lines: list[str]) -> list[dict]:
    """Records of the application log lines ``2026-03-01 12:00:01 LEVEL module: message``.

    Lines in another shape are skipped.
    """
    match = re.compile(
        r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) "
        r"(?P<level>" + "|".join(LEVELS) + r") (?P<module>[\w.]+): (?P<message>.*)$"
    ).match
    records = []
    for line in lines:
        found = match(line)
        if found is not None:
            records.append(found.groupdict())
    return records
