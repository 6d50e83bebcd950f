def oldest_book(books: list[Book]) -> Book:
    """The book with the earliest publication year (the first listed on a tie)."""
    return min(books, key=lambda book: book.year)
