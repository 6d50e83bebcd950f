def newest_first(records: list[dict], limit: int) -> list[str]:
    """The paths of the last ``limit`` requests, newest first."""
    return [record["path"] for record in reversed(records)][:limit]
