from circulation.catalogue import Catalogue, oldest_book, shelf_labels, titles_by_author
from circulation.records import Book, Loan


def test_available_titles(books, loans):
    catalogue = Catalogue(books[:700], loans[:600])
    titles = catalogue.available_titles()
    out = {loan.isbn for loan in loans[:600] if loan.returned is None}
    assert titles == [b.title for b in books[:700] if b.isbn not in out]
    assert len(titles) < 700


def test_available_titles_returned_loans_do_not_count():
    book = Book("1", "Map", "A B", "art", 2000)
    assert Catalogue([book], [Loan("1", 3, "2026-01-01", "2026-02-01", "2026-01-20")]) \
        .available_titles() == ["Map"]
    assert Catalogue([book], [Loan("1", 3, "2026-01-01", "2026-02-01")]).available_titles() == []


def test_search(books):
    catalogue = Catalogue(books, [])
    found = catalogue.search("the silver river")
    assert found
    assert all("silver" in b.title.lower().split() and "river" in b.title.lower().split()
               for b in found)
    assert len(catalogue.search("map")) > len(found)
    assert catalogue.search("rivers") == []


def test_shelf_labels(books):
    labels = shelf_labels(books)
    assert len(labels) == len(books)
    assert labels[0].split("-")[2] == str(books[0].year)
    assert sum(label.startswith("GEN-") for label in labels) == sum(
        b.genre in ("reference", "local") for b in books)


def test_oldest_book(books):
    oldest = oldest_book(books)
    assert oldest.year == min(b.year for b in books)
    assert oldest == next(b for b in books if b.year == oldest.year)


def test_titles_by_author(books):
    grouped = titles_by_author(books)
    assert sum(len(titles) for titles in grouped.values()) == len(books)
    assert list(grouped)[0] == books[0].author
    assert grouped["Ada Smith"] == [b.title for b in books if b.author == "Ada Smith"]
