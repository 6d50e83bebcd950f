import pytest

from inventory import pricing


@pytest.mark.parametrize(
    "quantity, expected",
    [(1, 9.99), (10, 97.9), (25, 239.76), (1000, 6993.0), (400, 2797.2)],
)
def test_bulk_price(quantity, expected):
    assert pricing.bulk_price(9.99, quantity) == pytest.approx(expected)


def test_bulk_price_counts_calls():
    before = pricing.bulk_price.calls
    pricing.bulk_price(1.0, 5)
    assert pricing.bulk_price.calls == before + 1


@pytest.mark.parametrize("distance, expected", [(0, 5), (1, 5), (2, 10), (10, 445), (18, 20905)])
def test_shipping_cost(distance, expected):
    assert pricing.shipping_cost(distance) == expected
