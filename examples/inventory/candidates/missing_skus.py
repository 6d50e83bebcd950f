def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = {product["sku"] for product in products}
    return [sku for sku in wanted if sku not in carried]
