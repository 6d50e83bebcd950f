def titles_by_author(books: list[Book]) -> dict[str, list[str]]:
    """Titles grouped by author, authors and titles in catalogue order."""
    grouped: dict[str, list[str]] = {}
    for book in books:
        titles = grouped.get(book.author)
        if titles is None:
            grouped[book.author] = [book.title]
        else:
            titles.append(book.title)
    return grouped
