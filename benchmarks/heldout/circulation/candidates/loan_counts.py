def loan_counts(loans: list[Loan], top: int = 10) -> list[tuple[str, int]]:
    """(isbn, times borrowed) of the ``top`` most borrowed isbns, most borrowed first; on a tie,
    the isbn first borrowed comes first."""
    from collections import Counter
    from operator import attrgetter

    return Counter(map(attrgetter("isbn"), loans)).most_common(top)
