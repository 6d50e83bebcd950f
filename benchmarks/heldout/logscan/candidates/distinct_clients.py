def distinct_clients(records: list[dict]) -> list[str]:
    """Client IPs in order of their first request."""
    return list(dict.fromkeys([record["ip"] for record in records]))
