def open_orders_for(self, customer_ids: list[str]) -> list[Order]:
    """Open orders placed by any of ``customer_ids``, in booking order."""
    wanted = set(customer_ids)
    found = [order for order in self.orders
             if order.customer_id in wanted and order.status not in CLOSED_STATUSES]
    log.debug("open_orders_for: %d of %d", len(found), len(self.orders))
    return found
