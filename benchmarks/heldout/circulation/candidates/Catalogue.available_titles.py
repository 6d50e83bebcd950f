def available_titles(self) -> list[str]:
    """Titles of books with no loan out (a loan is out until it is returned)."""
    out = {loan.isbn for loan in self.loans if loan.returned is None}
    return [book.title for book in self.books if book.isbn not in out]
