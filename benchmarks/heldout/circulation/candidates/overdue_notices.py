def overdue_notices(loans: list[Loan], members: list[Member], today: str) -> list[str]:
    """One notice line per overdue loan still out, for members we have on file."""
    by_id: dict[int, list[Member]] = {}
    for member in members:
        by_id.setdefault(member.member_id, []).append(member)
    notices = []
    for loan in loans:
        if loan.returned is not None or loan.due >= today:
            continue
        for member in by_id.get(loan.member_id, ()):
            notices.append(f"{member.name} <{member.email}>: {loan.isbn} was due {loan.due}")
    return notices
