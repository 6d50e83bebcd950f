def largest_payment(payments: list[Payment]) -> int:
    """The largest single payment amount in cents (0 when there are none)."""
    return max(0, max([payment.amount_cents for payment in payments], default=0))
