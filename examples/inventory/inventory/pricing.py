"""Prices and shipping."""

import functools

#: Discount applied per full block of ``BULK_BLOCK`` units.
BULK_BLOCK = 10
BULK_DISCOUNT = 0.02


def _logged(func):
    """Count calls, as the real service does for its metrics."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return func(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


@_logged
def bulk_price(unit_price, quantity):
    """Total price with a 2% discount per full block of 10 units, capped at 30%."""
    discount = 0.0
    blocks = 0
    while blocks * BULK_BLOCK + BULK_BLOCK <= quantity:
        blocks += 1
    discount = min(blocks * BULK_DISCOUNT, 0.30)
    return round(unit_price * quantity * (1 - discount), 2)


def shipping_cost(distance):
    """Cost of shipping over ``distance`` zones: each zone costs the two before it."""
    if distance < 2:
        return 5
    return shipping_cost(distance - 1) + shipping_cost(distance - 2)
