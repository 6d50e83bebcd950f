"""Loans, fines and overdue notices."""

from __future__ import annotations

from datetime import date

from .records import Loan, Member

FINE_CENTS_PER_DAY = 25
MAX_FINE_CENTS = 1500


def fines_due(loans: list[Loan], today: str) -> dict[int, int]:
    """Fine in cents owed by each member with an overdue loan still out.

    Each loan's fine is 25 cents per day late, capped at MAX_FINE_CENTS.
    """
    fines: dict[int, int] = {}
    for loan in loans:
        if loan.returned is not None:
            continue
        days_late = (date.fromisoformat(today) - date.fromisoformat(loan.due)).days
        if days_late <= 0:
            continue
        fine = min(days_late * FINE_CENTS_PER_DAY, MAX_FINE_CENTS)
        fines[loan.member_id] = fines.get(loan.member_id, 0) + fine
    return fines


def overdue_notices(loans: list[Loan], members: list[Member], today: str) -> list[str]:
    """One notice line per overdue loan still out, for members we have on file."""
    notices = []
    for loan in loans:
        if loan.returned is not None or loan.due >= today:
            continue
        for member in members:
            if member.member_id == loan.member_id:
                notices.append(f"{member.name} <{member.email}>: {loan.isbn} was due {loan.due}")
    return notices


def loan_counts(loans: list[Loan], top: int = 10) -> list[tuple[str, int]]:
    """(isbn, times borrowed) of the ``top`` most borrowed isbns, most borrowed first; on a tie,
    the isbn first borrowed comes first."""
    counts: dict[str, int] = {}
    for loan in loans:
        if loan.isbn in counts:
            counts[loan.isbn] += 1
        else:
            counts[loan.isbn] = 1
    ranking = []
    remaining = dict(counts)
    while remaining and len(ranking) < top:
        best = None
        for isbn in remaining:
            if best is None or remaining[isbn] > remaining[best]:
                best = isbn
        ranking.append((best, remaining.pop(best)))
    return ranking


def duplicate_accounts(members: list[Member]) -> list[tuple[int, int]]:
    """Pairs of member ids that share an e-mail address (case-insensitive), in id order."""
    pairs = []
    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            if members[i].email.lower() == members[j].email.lower():
                pairs.append((members[i].member_id, members[j].member_id))
    return sorted(pairs)


def members_in_postcodes(members: list[Member], postcodes: list[str]) -> list[int]:
    """Ids of members living in one of ``postcodes`` (outreach mailings)."""
    return [member.member_id for member in members if member.postcode in postcodes]
