def slowest_request(records: list[dict]) -> dict:
    """The record with the highest response time (the first such one on a tie)."""
    if not records:  # as sorted(...)[0] fails on no records (max would raise ValueError)
        raise IndexError("list index out of range")
    return max(records, key=lambda record: record["ms"])
