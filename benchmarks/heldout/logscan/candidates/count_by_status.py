def count_by_status(records: list[dict]) -> dict[int, int]:
    """How many responses had each status code."""
    from collections import Counter
    from operator import itemgetter

    return dict(Counter(map(itemgetter("status"), records)))
