def shelf_labels(books: list[Book]) -> list[str]:
    """Spine labels such as ``FIC-SMI-1999``; genres without a shelf code go to 'GEN'."""
    codes = SHELF_CODES
    return [f"{codes.get(book.genre, 'GEN')}-{book.author.split()[-1][:3].upper()}-{book.year}"
            for book in books]
