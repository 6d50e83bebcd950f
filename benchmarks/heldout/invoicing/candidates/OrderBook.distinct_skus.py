def distinct_skus(self) -> list[str]:
    """Every SKU ordered this period, once each, in order of first appearance."""
    return list(dict.fromkeys(line.sku for order in self.orders for line in order.lines))
