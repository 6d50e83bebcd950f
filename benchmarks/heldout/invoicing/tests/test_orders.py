from invoicing.models import Order, OrderLine
from invoicing.orders import OrderBook, attach_customers, lines_needing_restock


def test_open_orders_for_selects_open_orders_of_the_customers(orders):
    book = OrderBook(orders)
    wanted = [f"C{i:05d}" for i in range(0, 400, 3)]
    found = book.open_orders_for(wanted)
    assert found
    assert all(o.customer_id in wanted and o.status not in ("cancelled", "refunded") for o in found)
    expected = [o for o in orders if o.customer_id in set(wanted)
                and o.status not in ("cancelled", "refunded")]
    assert found == expected


def test_open_orders_for_small_case():
    book = OrderBook([
        Order("A", "C1", "2026-01-01"),
        Order("B", "C2", "2026-01-02", status="cancelled"),
        Order("C", "C2", "2026-01-03"),
    ])
    assert [o.order_id for o in book.open_orders_for(["C2"])] == ["C"]
    assert book.open_orders_for([]) == []


def test_distinct_skus_keeps_first_appearance_order(orders):
    skus = OrderBook(orders).distinct_skus()
    assert len(skus) == len(set(skus))
    seen = []
    for order in orders:
        for line in order.lines:
            if line.sku not in seen:
                seen.append(line.sku)
    assert skus == seen


def test_attach_customers_names_each_order(orders, customers):
    rows = attach_customers(orders[:800], customers[:300])
    assert len(rows) == 800
    names = {c["id"]: c["name"] for c in customers[:300]}
    for (order_id, name), order in zip(rows, orders):
        assert order_id == order.order_id
        assert name == names.get(order.customer_id, "?")
    assert any(name == "?" for _, name in rows)


def test_attach_customers_first_match_wins():
    orders = [Order("A", "C1", "2026-01-01")]
    customers = [{"id": "C1", "name": "first"}, {"id": "C1", "name": "second"}]
    assert attach_customers(orders, customers) == [("A", "first")]


def test_lines_needing_restock(orders):
    lines = [line for order in orders for line in order.lines]
    stock = {f"SKU-{i:04d}": (i * 7) % 45 for i in range(0, 300, 2)}
    short = lines_needing_restock(lines, stock)
    assert short == sorted(set(short))
    assert all(any(l.sku == sku and l.quantity > stock.get(sku, 0) for l in lines) for sku in short[:20])
    assert "SKU-0001" in short or not any(l.sku == "SKU-0001" for l in lines)


def test_lines_needing_restock_small():
    lines = [OrderLine("b", 5, 100), OrderLine("a", 1, 100), OrderLine("b", 9, 100)]
    assert lines_needing_restock(lines, {"a": 3, "b": 6}) == ["b"]
    assert lines_needing_restock(lines, {}) == ["a", "b"]
