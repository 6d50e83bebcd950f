def blocked_hits(records: list[dict], blocklist: list[str]) -> list[dict]:
    """Requests made by a blocklisted IP, in log order."""
    blocked = set(blocklist)
    return [record for record in records if record["ip"] in blocked]
