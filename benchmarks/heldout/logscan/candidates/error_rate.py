def error_rate(records: list[dict]) -> float:
    """Fraction of responses with a 5xx status (0.0 for no records)."""
    if not records:
        return 0.0
    errors = 0
    for record in records:
        if record["status"] in ERROR_STATUSES:
            errors += 1
    return errors / len(records)
