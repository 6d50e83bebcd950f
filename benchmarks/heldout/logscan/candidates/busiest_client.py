def busiest_client(records: list[dict]) -> str:
    """The IP with the most requests (on a tie, the one seen first)."""
    if not records:
        return ""
    from collections import Counter

    from operator import itemgetter

    counts = Counter(map(itemgetter("ip"), records))
    return max(counts, key=counts.__getitem__)
