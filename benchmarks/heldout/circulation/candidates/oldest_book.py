def oldest_book(books: list[Book]) -> Book:
    """The book with the earliest publication year (the first listed on a tie)."""
    if not books:  # as sorted(...)[0] fails on no books (min would raise ValueError)
        raise IndexError("list index out of range")
    return min(books, key=lambda book: book.year)
