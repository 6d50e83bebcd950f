def invoice_total_cents(lines: list[OrderLine]) -> int:
    """Sum of the discounted line amounts (each line rounded down to the cent)."""
    return sum([line.quantity * line.unit_cents * (100 - line.discount_pct) // 100
                for line in lines])
