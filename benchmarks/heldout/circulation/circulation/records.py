"""Records of the branch's catalogue and members."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Book:
    isbn: str
    title: str
    author: str
    genre: str
    year: int


@dataclass
class Loan:
    isbn: str
    member_id: int
    borrowed: str  # ISO date
    due: str  # ISO date
    returned: str | None = None


@dataclass
class Member:
    member_id: int
    name: str
    email: str
    postcode: str
