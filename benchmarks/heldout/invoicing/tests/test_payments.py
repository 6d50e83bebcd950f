from invoicing.models import Payment
from invoicing.payments import PaymentMatcher, largest_payment, recent_first


def test_settle_applies_payments(payments):
    balances = {f"INV-{i:06d}": 1_000_000 for i in range(500)}
    matcher = PaymentMatcher(balances)
    remaining = matcher.settle(payments)
    paid = sum(p.amount_cents for p in payments if p.invoice_id in balances)
    assert sum(remaining.values()) == 500 * 1_000_000 - paid
    assert matcher.unmatched == [p.payment_id for p in payments if p.invoice_id not in balances]
    assert balances["INV-000000"] == 1_000_000  # the caller's dict is not changed


def test_settle_small():
    matcher = PaymentMatcher({"I1": 500})
    assert matcher.settle([Payment("P1", "I1", 200, "2026-01-01"),
                           Payment("P2", "I9", 1, "2026-01-02")]) == {"I1": 300}
    assert matcher.unmatched == ["P2"]


def test_largest_payment(payments):
    assert largest_payment(payments) == max(p.amount_cents for p in payments)
    assert largest_payment([]) == 0


def test_recent_first(payments):
    ids = recent_first(payments)
    assert ids == [p.payment_id for p in reversed(payments)]
    assert recent_first([]) == []
