def cheapest_quote(quotes: list[dict]) -> dict:
    """The supplier quote with the lowest unit price (the earliest one on a tie)."""
    if not quotes:  # as sorted(...)[0] fails on no quotes (min would raise ValueError)
        raise IndexError("list index out of range")
    return min(quotes, key=lambda q: q["unit_cents"])
