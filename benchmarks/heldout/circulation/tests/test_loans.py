from circulation.loans import (
    duplicate_accounts,
    fines_due,
    loan_counts,
    members_in_postcodes,
    overdue_notices,
)
from circulation.records import Loan
from conftest import make_loans


def test_fines_due(loans):
    fines = fines_due(loans, "2026-12-20")
    assert fines and all(0 < cents for cents in fines.values())
    one = Loan("x", 7, "2026-01-01", "2026-01-10")
    assert fines_due([one], "2026-01-14") == {7: 100}
    assert fines_due([one], "2026-09-14") == {7: 1500}
    assert fines_due([one], "2026-01-10") == {}


def test_overdue_notices(loans, members):
    notices = overdue_notices(loans[:900], members[:400], "2026-08-01")
    assert notices
    expected = sum(1 for loan in loans[:900] if loan.returned is None and loan.due < "2026-08-01"
                   and loan.member_id < 400)
    assert len(notices) == expected
    assert all(" was due 2026-0" in n for n in notices)


def test_loan_counts():
    loans = make_loans(5000, books=300)
    counts = loan_counts(loans, top=100)
    assert len(counts) == 100
    assert [c for _, c in counts] == sorted((c for _, c in counts), reverse=True)
    first_seen = list(dict.fromkeys(loan.isbn for loan in loans))
    for (a, ca), (b, cb) in zip(counts, counts[1:]):
        assert ca > cb or first_seen.index(a) < first_seen.index(b)
    assert counts[0][1] == sum(1 for loan in loans if loan.isbn == counts[0][0])


def test_loan_counts_small():
    loans = [Loan(isbn, 1, "2026-01-01", "2026-02-01") for isbn in "bacab"]
    assert loan_counts(loans, top=2) == [("b", 2), ("a", 2)]
    assert loan_counts(loans) == [("b", 2), ("a", 2), ("c", 1)]


def test_duplicate_accounts(members):
    pairs = duplicate_accounts(members[:450])
    assert pairs == sorted(pairs)
    by_id = {m.member_id: m for m in members}
    assert pairs and all(by_id[a].email.lower() == by_id[b].email.lower() for a, b in pairs)


def test_members_in_postcodes(members):
    postcodes = [f"PC{i:02d}" for i in range(0, 60, 3)] + [f"ZZ{i}" for i in range(100)]
    ids = members_in_postcodes(members, postcodes)
    assert ids == [m.member_id for m in members if m.postcode in set(postcodes)]
