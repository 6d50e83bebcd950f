def recent_first(payments: list[Payment]) -> list[str]:
    """Payment ids, newest received first (payments arrive sorted oldest first)."""
    return [payment.payment_id for payment in reversed(payments)]
