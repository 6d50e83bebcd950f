def serve_holds(holds: Iterable[tuple[int, str]], copies: dict[str, int]) -> list[tuple[int, str]]:
    """Hand returned copies to waiting members, first come first served.

    ``holds`` is (member id, isbn) in the order placed; ``copies`` is how many copies of each
    isbn came back. Returns the (member id, isbn) holds filled; ``copies`` is not changed.
    """
    left = dict(copies)
    filled = []
    for member_id, isbn in holds:
        if left.get(isbn, 0) > 0:
            left[isbn] -= 1
            filled.append((member_id, isbn))
    return filled
