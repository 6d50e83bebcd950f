"""Plain records shared by the service modules (amounts are integer cents)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_cents: int
    discount_pct: int = 0


@dataclass
class Order:
    order_id: str
    customer_id: str
    placed_on: str  # ISO date
    status: str = "open"
    lines: list[OrderLine] = field(default_factory=list)


@dataclass
class Payment:
    payment_id: str
    invoice_id: str
    amount_cents: int
    received_on: str
