"""Catalog queries over product rows.

A product row is a dict with the keys ``sku``, ``name``, ``active``, ``qty`` and ``tags``.
"""


def active_skus(products):
    """SKUs of the active products, upper-cased, in catalog order."""
    result = []
    for product in products:
        if product["active"]:
            result.append(product["sku"].upper())
    return result


def index_by_sku(products):
    """Map each SKU to its quantity in stock."""
    return dict([(product["sku"], product["qty"]) for product in products])


def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = [product["sku"] for product in products]
    missing = []
    for sku in wanted:
        if sku not in carried:
            missing.append(sku)
    return missing


def unknown_skus(orders, products):
    """SKUs on the order lines that the catalog does not carry, in the order of the lines
    (an SKU ordered twice is listed twice)."""
    carried = []
    for product in products:
        carried.append(product["sku"])
    ordered = [order["sku"] for order in orders]
    unknown = []
    for sku in ordered:
        if sku not in carried:
            unknown.append(sku)
    return unknown


def has_backorder(products):
    """True when some product has a negative quantity (sold before it arrived)."""
    for product in products:
        if product["qty"] < 0:
            return True
    return False
