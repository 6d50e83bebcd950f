def attach_customers(orders: list[Order], customers: list[dict]) -> list[tuple[str, str]]:
    """(order id, customer display name) for each order; unknown customers show as '?'."""
    names: dict[str, str] = {}
    for customer in customers:
        names.setdefault(customer["id"], customer["name"])
    return [(order.order_id, names.get(order.customer_id, "?")) for order in orders]
