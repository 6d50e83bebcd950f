def invoices_per_customer(invoices: list[dict]) -> dict[str, int]:
    """How many invoices each customer received."""
    from collections import Counter
    from operator import itemgetter

    return dict(Counter(map(itemgetter("customer"), invoices)))
