from conftest import make_products
from inventory import catalog


def test_active_skus_small(small_catalog):
    expected = [p["sku"].upper() for p in small_catalog if p["active"]]
    assert catalog.active_skus(small_catalog) == expected


def test_active_skus_large(products):
    result = catalog.active_skus(products)
    assert len(result) == sum(p["active"] for p in products)
    assert all(sku.startswith("SK-") for sku in result)


def test_active_skus_empty():
    assert catalog.active_skus([]) == []


def test_index_by_sku(products):
    index = catalog.index_by_sku(products)
    assert len(index) == len(products)
    assert index["sk-00010"] == products[10]["qty"]


def test_missing_skus(products):
    wanted = [f"sk-{i:05d}" for i in range(0, 3000, 3)]
    missing = catalog.missing_skus(wanted, products)
    assert missing == [s for s in wanted if int(s[3:]) >= 2000]


def test_missing_skus_keeps_order_and_duplicates():
    products = make_products(3)
    assert catalog.missing_skus(["x", "sk-00001", "x"], products) == ["x", "x"]


def test_unknown_skus(products):
    orders = [{"sku": f"sk-{i:05d}", "qty": 1 + i % 4} for i in range(1700, 2300, 2)]
    unknown = catalog.unknown_skus(orders, products)
    assert unknown == [f"sk-{i:05d}" for i in range(2000, 2300, 2)]


def test_unknown_skus_keeps_order_and_repeats():
    products = make_products(4)
    orders = [{"sku": "zz-9"}, {"sku": "sk-00002"}, {"sku": "aa-1"}, {"sku": "zz-9"}]
    assert catalog.unknown_skus(orders, products) == ["zz-9", "aa-1", "zz-9"]
    assert catalog.unknown_skus([], products) == []
    assert catalog.unknown_skus(orders, []) == ["zz-9", "sk-00002", "aa-1", "zz-9"]


def test_has_backorder(products):
    assert catalog.has_backorder(products) == any(p["qty"] < 0 for p in products)
    assert not catalog.has_backorder([{"qty": 1}])
