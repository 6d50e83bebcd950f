"""Order lookups used by the back office and the nightly exports."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .models import Order, OrderLine

log = logging.getLogger(__name__)

CLOSED_STATUSES = ("cancelled", "refunded")


class OrderBook:
    """All orders of the current accounting period."""

    def __init__(self, orders: Iterable[Order]):
        self.orders = list(orders)

    def open_orders_for(self, customer_ids: list[str]) -> list[Order]:
        """Open orders placed by any of ``customer_ids``, in booking order."""
        found = []
        for order in self.orders:
            if order.status in CLOSED_STATUSES:
                continue
            if order.customer_id in customer_ids:
                found.append(order)
        log.debug("open_orders_for: %d of %d", len(found), len(self.orders))
        return found

    def distinct_skus(self) -> list[str]:
        """Every SKU ordered this period, once each, in order of first appearance."""
        skus: list[str] = []
        for order in self.orders:
            for line in order.lines:
                if line.sku not in skus:
                    skus.append(line.sku)
        return skus


def attach_customers(orders: list[Order], customers: list[dict]) -> list[tuple[str, str]]:
    """(order id, customer display name) for each order; unknown customers show as '?'."""
    rows = []
    for order in orders:
        name = "?"
        for customer in customers:
            if customer["id"] == order.customer_id:
                name = customer["name"]
                break
        rows.append((order.order_id, name))
    return rows


def lines_needing_restock(lines: list[OrderLine], stock: dict[str, int]) -> list[str]:
    """SKUs whose ordered quantity exceeds what is on hand, sorted, no repeats."""
    short = []
    for line in lines:
        on_hand = stock[line.sku] if line.sku in list(stock.keys()) else 0
        if line.quantity > on_hand:
            short.append(line.sku)
    result = []
    for sku in sorted(short):
        if sku not in result:
            result.append(sku)
    return result
