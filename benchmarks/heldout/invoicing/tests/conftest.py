import random

import pytest

from invoicing.models import Order, OrderLine, Payment

FIRST = ["Anna", "Ben", "Chloe", "Dmitri", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jonas"]
LAST = ["Berg", "Costa", "Dahl", "Ek", "Fischer", "Garcia", "Holm", "Ivanova", "Jensen"]


def make_customers(count, seed=3):
    rng = random.Random(seed)
    return [
        {"id": f"C{i:05d}", "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}"}
        for i in range(count)
    ]


def make_orders(count, customers=400, skus=300, seed=11):
    rng = random.Random(seed)
    orders = []
    for i in range(count):
        lines = [
            OrderLine(
                sku=f"SKU-{rng.randrange(skus):04d}",
                quantity=rng.randint(1, 40),
                unit_cents=rng.randint(50, 25000),
                discount_pct=rng.choice([0, 0, 0, 5, 10, 15]),
            )
            for _ in range(rng.randint(1, 5))
        ]
        orders.append(
            Order(
                order_id=f"O{i:06d}",
                customer_id=f"C{rng.randrange(customers):05d}",
                placed_on=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                status=rng.choice(["open", "open", "open", "shipped", "cancelled", "refunded"]),
                lines=lines,
            )
        )
    return orders


def make_invoices(count, customers=300, seed=5):
    rng = random.Random(seed)
    return [
        {
            "id": f"INV-{i:06d}",
            "customer": f"C{rng.randrange(customers):05d}",
            "due": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "paid": rng.random() < 0.6,
            "cents": rng.randint(1000, 900000),
        }
        for i in range(count)
    ]


def make_payments(count, invoices=500, seed=9):
    rng = random.Random(seed)
    return [
        Payment(
            payment_id=f"P{i:06d}",
            invoice_id=f"INV-{rng.randrange(invoices + invoices // 10):06d}",
            amount_cents=rng.randint(100, 500000),
            received_on=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        )
        for i in range(count)
    ]


@pytest.fixture
def orders():
    return make_orders(1500)


@pytest.fixture
def customers():
    return make_customers(400)


@pytest.fixture
def invoices():
    return make_invoices(2000)


@pytest.fixture
def payments():
    return make_payments(3000)
