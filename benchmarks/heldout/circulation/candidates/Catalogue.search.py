def search(self, query: str) -> list[Book]:
    """Books whose title contains every non-stopword of ``query`` as a whole word."""
    patterns = [re.compile(r"\b" + re.escape(word) + r"\b").search
                for word in query.lower().split() if word not in STOPWORDS]
    found = []
    for book in self.books:
        title = book.title.lower()
        if all(search(title) for search in patterns):
            found.append(book)
    return found
