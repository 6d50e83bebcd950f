def slowest_request(records: list[dict]) -> dict:
    """The record with the highest response time (the first such one on a tie)."""
    return max(records, key=lambda record: record["ms"])
