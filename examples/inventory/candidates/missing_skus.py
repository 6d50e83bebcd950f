# A hand-written rewrite of inventory.catalog.missing_skus, as a developer would try one:
# the catalog's SKUs go into a set, so each lookup is O(1) instead of a scan of the list.
# `scripts/demo.sh` passes it with --candidate next to the rule and model sources.
def missing_skus(wanted, products):
    """SKUs in ``wanted`` that the catalog does not carry, in the order asked."""
    carried = {product["sku"] for product in products}
    return [sku for sku in wanted if sku not in carried]
