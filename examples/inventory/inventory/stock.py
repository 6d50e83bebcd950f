"""The warehouse: quantities per SKU and restocking decisions."""


class Warehouse:
    def __init__(self, levels):
        #: SKU -> units on hand.
        self.levels = dict(levels)

    def restock(self, sku, units):
        self.levels[sku] = self.levels.get(sku, 0) + units

    def low_stock(self, threshold):
        """SKUs with fewer than ``threshold`` units, lowest first (ties by SKU)."""
        low = []
        for sku, units in self.levels.items():
            if units < threshold:
                low.append((units, sku))
                low = sorted(low)
        return [sku for units, sku in low]
