def attach_customers(orders: list[Order], customers: list[dict]) -> list[tuple[str, str]]:
    """(order id, customer display name) for each order; unknown customers show as '?'."""
    # An index built lazily, as far into the customers as an order needs: each customer is
    # read once, and no further than the scan per order read (a malformed record after
    # every match is never touched, as before).
    by_id: dict[str, dict] = {}
    remaining = iter(customers)
    rows = []
    for order in orders:
        wanted = order.customer_id
        customer = by_id.get(wanted)
        if customer is None:
            for candidate in remaining:
                by_id.setdefault(candidate["id"], candidate)
                if candidate["id"] == wanted:
                    customer = candidate
                    break
        rows.append((order.order_id, "?" if customer is None else customer["name"]))
    return rows
