def cheapest_quote(quotes: list[dict]) -> dict:
    """The supplier quote with the lowest unit price (the earliest one on a tie)."""
    return min(quotes, key=lambda q: q["unit_cents"])
