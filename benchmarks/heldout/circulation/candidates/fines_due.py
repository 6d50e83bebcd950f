def fines_due(loans: list[Loan], today: str) -> dict[int, int]:
    """Fine in cents owed by each member with an overdue loan still out.

    Each loan's fine is 25 cents per day late, capped at MAX_FINE_CENTS.
    """
    today_ordinal = date.fromisoformat(today).toordinal()
    parse = date.fromisoformat
    fines: dict[int, int] = {}
    for loan in loans:
        if loan.returned is not None:
            continue
        days_late = today_ordinal - parse(loan.due).toordinal()
        if days_late > 0:
            fine = min(days_late * FINE_CENTS_PER_DAY, MAX_FINE_CENTS)
            fines[loan.member_id] = fines.get(loan.member_id, 0) + fine
    return fines
