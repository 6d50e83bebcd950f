"""The branch catalogue: availability, search and shelving."""

from __future__ import annotations

import re

from .records import Book, Loan

SHELF_CODES = {
    "fiction": "FIC", "crime": "CRI", "thriller": "THR", "fantasy": "FAN", "romance": "ROM",
    "science fiction": "SF", "horror": "HOR", "graphic novels": "GRA", "short stories": "SHO",
    "poetry": "POE", "drama": "DRA", "classics": "CLA", "young adult": "YA", "children": "JUV",
    "picture books": "PIC", "science": "SCI", "mathematics": "MAT", "computing": "COM",
    "medicine": "MED", "history": "HIS", "politics": "POL", "philosophy": "PHI",
    "religion": "REL", "languages": "LAN", "travel": "TRV", "cookery": "COO",
    "gardening": "GAR", "sport": "SPO", "music": "MUS", "biography": "BIO", "art": "ART",
}
STOPWORDS = frozenset({"the", "a", "an", "of", "and", "in", "on"})


class Catalogue:
    """The books of a branch and the loans currently out."""

    def __init__(self, books: list[Book], loans: list[Loan]):
        self.books = books
        self.loans = loans

    def available_titles(self) -> list[str]:
        """Titles of books with no loan out (a loan is out until it is returned)."""
        titles = []
        for book in self.books:
            if book.isbn not in [loan.isbn for loan in self.loans if loan.returned is None]:
                titles.append(book.title)
        return titles

    def search(self, query: str) -> list[Book]:
        """Books whose title contains every non-stopword of ``query`` as a whole word."""
        words = [w for w in query.lower().split() if w not in STOPWORDS]
        found = []
        for book in self.books:
            if all(re.search(r"\b" + re.escape(word) + r"\b", book.title.lower())
                   for word in words):
                found.append(book)
        return found


def shelf_labels(books: list[Book]) -> list[str]:
    """Spine labels such as ``FIC-SMI-1999``; genres without a shelf code go to 'GEN'."""
    labels = []
    for book in books:
        if book.genre in list(SHELF_CODES.keys()):
            code = SHELF_CODES[book.genre]
        else:
            code = "GEN"
        labels.append(code + "-" + book.author.split()[-1][:3].upper() + "-" + str(book.year))
    return labels


def oldest_book(books: list[Book]) -> Book:
    """The book with the earliest publication year (the first listed on a tie)."""
    return sorted(books, key=lambda book: book.year)[0]


def titles_by_author(books: list[Book]) -> dict[str, list[str]]:
    """Titles grouped by author, authors and titles in catalogue order."""
    authors = []
    for book in books:
        if book.author not in authors:
            authors.append(book.author)
    grouped = {}
    for author in authors:
        grouped[author] = [book.title for book in books if book.author == author]
    return grouped
