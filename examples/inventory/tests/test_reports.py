from conftest import make_products
from inventory import reports


def test_render_lines_format():
    products = make_products(2, seed=3)
    text = reports.render_lines(products)
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("sk-00000  ")
    assert text.endswith("\n")


def test_render_lines_large(products):
    assert reports.render_lines(products).count("\n") == len(products)


def test_unique_tags(products):
    tags = reports.unique_tags(products)
    assert len(tags) == len(set(tags)) == 10
    assert tags[:3] == products[0]["tags"]


def test_sku_labels_format():
    products = make_products(3, seed=5)
    assert reports.sku_labels(products) == "sk-00000,sk-00001,sk-00002,"
    assert reports.sku_labels([]) == ""


def test_sku_labels_large(products):
    text = reports.sku_labels(products)
    assert text.count(",") == len(products) and text.startswith(products[0]["sku"] + ",")


def test_shelf_names_format():
    products = make_products(4, seed=2)
    for product, active in zip(products, (True, False, True, True)):
        product["active"] = active
    names = [product["name"] for product in products]
    assert reports.shelf_names(products) == [names[0], names[2], names[3]]
    assert reports.shelf_names([]) == []


def test_shelf_names_large(products):
    names = reports.shelf_names(products)
    assert names == [p["name"] for p in products if p["active"]] and names
