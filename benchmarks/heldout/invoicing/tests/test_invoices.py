from invoicing.invoices import (
    InvoiceRenderer,
    cheapest_quote,
    invoice_total_cents,
    invoices_per_customer,
    overdue_invoices,
    statement_entries,
    valid_coupons,
)
from invoicing.models import OrderLine


def test_render_invoice(orders):
    lines = [line for order in orders[:600] for line in order.lines]
    renderer = InvoiceRenderer()
    text = renderer.render("INV-1", "Anna Berg", lines)
    assert text == renderer.text
    rows = text.splitlines()
    assert rows[0] == "INVOICE INV-1" and rows[1] == "Bill to: Anna Berg"
    assert len(rows) == len(lines) + 5
    assert rows[-1].startswith("TOTAL")
    assert rows[-1].split()[-2] == f"{invoice_total_cents(lines) // 100}.{invoice_total_cents(lines) % 100:02d}"


def test_invoice_total_cents(orders):
    lines = [line for order in orders for line in order.lines]
    expected = sum(l.quantity * l.unit_cents * (100 - l.discount_pct) // 100 for l in lines)
    assert invoice_total_cents(lines) == expected
    assert invoice_total_cents([]) == 0
    assert invoice_total_cents([OrderLine("x", 3, 333, 10)]) == 899
    assert invoice_total_cents([OrderLine("x", 3, 333, 10)], " Partner") == 879
    assert invoice_total_cents([OrderLine("x", 3, 333, 10)], "gold") == 899
    assert invoice_total_cents([OrderLine("x", 3, 333, 10)], "platinum") == 899


def test_invoice_total_cents_for_a_tier(orders):
    lines = [line for order in orders for line in order.lines]
    expected = sum(l.quantity * l.unit_cents * (100 - max(l.discount_pct, 7)) // 100
                   for l in lines)
    assert invoice_total_cents(lines, "GOLD") == expected


def test_overdue_invoices(invoices):
    ids = overdue_invoices(invoices, "2026-07-15")
    assert ids
    by_id = {inv["id"]: inv for inv in invoices}
    assert all(not by_id[i]["paid"] and by_id[i]["due"] < "2026-07-01" for i in ids)
    assert len(ids) == sum(1 for inv in invoices if not inv["paid"] and inv["due"] < "2026-07-01")


def test_cheapest_quote():
    quotes = [{"supplier": f"S{i}", "unit_cents": (i * 7919) % 5003 + 10} for i in range(3000)]
    best = cheapest_quote(quotes)
    assert best["unit_cents"] == min(q["unit_cents"] for q in quotes)
    tie = [{"supplier": "a", "unit_cents": 5}, {"supplier": "b", "unit_cents": 5}]
    assert cheapest_quote(tie)["supplier"] == "a"


def test_invoices_per_customer(invoices):
    counts = invoices_per_customer(invoices)
    assert sum(counts.values()) == len(invoices)
    assert counts["C00000"] == sum(1 for inv in invoices if inv["customer"] == "C00000")
    assert list(counts)[0] == invoices[0]["customer"]


def test_valid_coupons():
    codes = []
    for i in range(2500):
        prefix = ["SPRING", "loyal", "B2B", "WINTER", "XMAS"][i % 5]
        codes.append(f" {prefix}-{i % 10000:04d} " if i % 7 else f"{prefix}-{i}")
    accepted = valid_coupons(codes)
    assert accepted
    assert all(code.split("-")[0] in ("SPRING", "LOYAL", "B2B") for code in accepted)
    assert "LOYAL-0001" in accepted and all(len(c.split("-")[1]) == 4 for c in accepted)
    assert valid_coupons(["spring-12345", "B2B-0000"]) == ["B2B-0000"]


def test_statement_entries(invoices):
    notes = [{"id": f"CN-{i}", "cents": 100 * i} for i in range(400)]
    entries = statement_entries(invoices[:1200], notes)
    assert len(entries) == 1600
    assert entries[0] == {"ref": invoices[0]["id"], "cents": invoices[0]["cents"]}
    assert entries[-1] == {"ref": "CN-399", "cents": -39900}
