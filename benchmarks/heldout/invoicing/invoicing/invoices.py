"""Invoice rendering, totals and dunning."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .models import OrderLine

GRACE_DAYS = 14
DATE_FORMAT = "%Y-%m-%d"
CURRENCY = "EUR"
COUPON_PREFIXES = ("SPRING", "LOYAL", "B2B")
TIER_DISCOUNT_PCT = {"standard": 0, "silver": 3, "gold": 7, "partner": 12}


def format_cents(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d} {CURRENCY}"


class InvoiceRenderer:
    """Renders invoices as the plain text sent by e-mail; keeps the last one in ``text``."""

    def __init__(self, width: int = 48):
        self.width = width
        self.text = ""

    def render(self, invoice_id: str, customer: str, lines: list[OrderLine]) -> str:
        """A header, one row per line, a total; also stored in ``self.text``."""
        self.text = f"INVOICE {invoice_id}\n"
        self.text += f"Bill to: {customer}\n"
        self.text += "-" * self.width + "\n"
        total = 0
        for line in lines:
            amount = line.quantity * line.unit_cents * (100 - line.discount_pct) // 100
            total += amount
            self.text += f"{line.sku:<12}{line.quantity:>6} x {line.unit_cents:>10}{amount:>14}\n"
        self.text += "-" * self.width + "\n"
        self.text += f"{'TOTAL':<34}{format_cents(total):>14}\n"
        return self.text


def invoice_total_cents(lines: list[OrderLine], tier: str = "standard") -> int:
    """Sum of the discounted line amounts, each rounded down to the cent.

    A line gets its own discount or the customer tier's, whichever is larger; an unknown tier
    gets none. ``tier`` is matched case-insensitively.
    """
    total = 0
    for i in range(len(lines)):
        tier_pct = TIER_DISCOUNT_PCT.get(tier.strip().lower(), 0)
        pct = max(lines[i].discount_pct, tier_pct)
        total = total + lines[i].quantity * lines[i].unit_cents * (100 - pct) // 100
    return total


def overdue_invoices(invoices: list[dict], today: str) -> list[str]:
    """Ids of unpaid invoices whose due date plus the grace period is before ``today``."""
    overdue = []
    for invoice in invoices:
        if invoice["paid"]:
            continue
        cutoff = datetime.strptime(today, DATE_FORMAT) - timedelta(days=GRACE_DAYS)
        if invoice["due"] < cutoff.strftime(DATE_FORMAT):
            overdue.append(invoice["id"])
    return overdue


def cheapest_quote(quotes: list[dict]) -> dict:
    """The supplier quote with the lowest unit price (the earliest one on a tie)."""
    return sorted(quotes, key=lambda q: q["unit_cents"])[0]


def invoices_per_customer(invoices: list[dict]) -> dict[str, int]:
    """How many invoices each customer received."""
    counts: dict[str, int] = {}
    for invoice in invoices:
        customer = invoice["customer"]
        if customer not in counts:
            counts[customer] = len([other for other in invoices if other["customer"] == customer])
    return counts


def valid_coupons(codes: list[str]) -> list[str]:
    """Codes of the form PREFIX-NNNN with a known campaign prefix, upper-cased."""
    accepted = []
    for code in codes:
        pattern = re.compile(r"^(" + "|".join(COUPON_PREFIXES) + r")-(\d{4})$", re.IGNORECASE)
        if pattern.match(code.strip()):
            accepted.append(code.strip().upper())
    return accepted


def statement_entries(invoices: list[dict], credit_notes: list[dict]) -> list[dict]:
    """Invoices followed by credit notes, each as a statement entry with a signed amount."""
    entries: list[dict] = []
    for invoice in invoices:
        entries = entries + [{"ref": invoice["id"], "cents": invoice["cents"]}]
    for note in credit_notes:
        entries = entries + [{"ref": note["id"], "cents": -note["cents"]}]
    return entries
