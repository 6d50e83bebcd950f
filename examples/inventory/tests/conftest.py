import random

import pytest


def make_products(count, seed=7):
    rng = random.Random(seed)
    words = ["bolt", "nut", "gear", "valve", "hose", "pump", "seal", "fan", "belt", "lamp"]
    products = []
    for i in range(count):
        products.append(
            {
                "sku": f"sk-{i:05d}",
                "name": f"{rng.choice(words)} {rng.choice(words)}",
                "active": rng.random() < 0.7,
                "qty": rng.randint(-2, 500),
                "tags": rng.sample(words, 3),
            }
        )
    return products


@pytest.fixture
def small_catalog():
    return make_products(8, seed=1)


@pytest.fixture
def products():
    return make_products(2000)
