def loan_counts(loans: list[Loan]) -> list[tuple[str, int]]:
    """(isbn, times borrowed) for every isbn, most borrowed first, ties by isbn."""
    from collections import Counter

    counts = Counter([loan.isbn for loan in loans])
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
