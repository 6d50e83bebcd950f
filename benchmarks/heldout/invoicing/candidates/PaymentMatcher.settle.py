def settle(self, payments: list[Payment]) -> dict[str, int]:
    """Apply ``payments`` in the order given; returns the remaining balances.

    Payments for unknown invoices are remembered in ``unmatched``.
    """
    balances = self.balances
    for payment in list(payments):
        if payment.invoice_id not in balances:
            self.unmatched.append(payment.payment_id)
            continue
        balances[payment.invoice_id] -= payment.amount_cents
    return balances
