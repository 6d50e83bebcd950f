import random

import pytest

from circulation.records import Book, Loan, Member

WORDS = ["night", "river", "garden", "winter", "glass", "house", "stone", "silver", "map",
         "letters", "the", "of", "island", "city", "kitchen", "war", "light", "bird", "road"]
AUTHORS = ["Ada Smith", "Bruno Keller", "Carmen Ortiz", "Deepa Rao", "Emil Novak", "Fatima Ali",
           "George Brown", "Hana Sato", "Ivan Petrov", "Julia Rossi", "Kofi Mensah", "Lena Berg"]
GENRES = ["fiction", "crime", "science", "history", "children", "poetry", "travel", "cookery",
          "biography", "art", "reference", "local"]


def make_books(count, seed=2):
    rng = random.Random(seed)
    return [
        Book(
            isbn=f"978{i:010d}",
            title=" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))).capitalize(),
            author=rng.choice(AUTHORS) if i % 5 else f"{rng.choice(AUTHORS)} {i % 40}",
            genre=rng.choice(GENRES),
            year=rng.randint(1890, 2025),
        )
        for i in range(count)
    ]


def make_loans(count, books=1200, members=600, seed=4):
    rng = random.Random(seed)
    loans = []
    for _ in range(count):
        month, day = rng.randint(1, 11), rng.randint(1, 28)
        borrowed = f"2026-{month:02d}-{day:02d}"
        due = f"2026-{month + 1:02d}-{day:02d}"
        returned = None if rng.random() < 0.35 else f"2026-{month + 1:02d}-{rng.randint(1, 28):02d}"
        loans.append(Loan(f"978{rng.randrange(books):010d}", rng.randrange(members), borrowed,
                          due, returned))
    return loans


def make_members(count, seed=6):
    rng = random.Random(seed)
    members = []
    for i in range(count):
        first = rng.choice(["ann", "bob", "cy", "dee", "eve", "fin", "gus", "hal", "ivy", "jo"])
        email = f"{first}{rng.randrange(count // 2)}@example.org"
        members.append(Member(i, first.title(), email.upper() if i % 11 == 0 else email,
                              f"PC{rng.randrange(60):02d}"))
    return members


@pytest.fixture
def books():
    return make_books(1200)


@pytest.fixture
def loans():
    return make_loans(1500)


@pytest.fixture
def members():
    return make_members(600)
