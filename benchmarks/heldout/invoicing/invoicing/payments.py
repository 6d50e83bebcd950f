"""Matching incoming payments to invoices."""

from __future__ import annotations

from .models import Payment


class PaymentMatcher:
    """Applies payments to open invoice balances, oldest payment first."""

    def __init__(self, balances: dict[str, int]):
        self.balances = dict(balances)
        self.unmatched: list[str] = []

    def settle(self, payments: list[Payment]) -> dict[str, int]:
        """Apply ``payments`` in the order given; returns the remaining balances.

        Payments for unknown invoices are remembered in ``unmatched``.
        """
        queue = list(payments)
        while queue:
            payment = queue.pop(0)
            if payment.invoice_id not in self.balances:
                self.unmatched.append(payment.payment_id)
                continue
            self.balances[payment.invoice_id] -= payment.amount_cents
        return self.balances


def largest_payment(payments: list[Payment]) -> int:
    """The largest single payment amount in cents (0 when there are none)."""
    largest = 0
    i = 0
    while i < len(payments):
        if payments[i].amount_cents > largest:
            largest = payments[i].amount_cents
        i += 1
    return largest


def recent_first(payments: list[Payment]) -> list[str]:
    """Payment ids, newest received first (payments arrive sorted oldest first)."""
    ids: list[str] = []
    for payment in payments:
        ids.insert(0, payment.payment_id)
    return ids
