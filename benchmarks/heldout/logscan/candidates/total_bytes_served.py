def total_bytes_served(records: list[dict]) -> int:
    """Bytes sent in all successful (2xx) responses."""
    return sum([record["bytes"] for record in records if 200 <= record["status"] < 300])
