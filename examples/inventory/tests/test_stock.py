from inventory.stock import Warehouse


def test_low_stock_orders_by_units_then_sku():
    warehouse = Warehouse({"b": 3, "a": 3, "c": 50, "d": 1})
    assert warehouse.low_stock(10) == ["d", "a", "b"]


def test_low_stock_large():
    levels = {f"sku-{i:04d}": (i * 7919) % 1000 for i in range(600)}
    warehouse = Warehouse(levels)
    low = warehouse.low_stock(200)
    assert low == [sku for units, sku in sorted((u, s) for s, u in levels.items() if u < 200)]


def test_restock_then_low_stock():
    warehouse = Warehouse({"a": 1})
    warehouse.restock("a", 20)
    warehouse.restock("z", 2)
    assert warehouse.low_stock(5) == ["z"]
