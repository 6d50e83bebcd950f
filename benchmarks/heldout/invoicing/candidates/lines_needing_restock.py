def lines_needing_restock(lines: list[OrderLine], stock: dict[str, int]) -> list[str]:
    """SKUs whose ordered quantity exceeds what is on hand, sorted, no repeats."""
    return sorted({line.sku for line in lines if line.quantity > stock.get(line.sku, 0)})
