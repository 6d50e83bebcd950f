def render(self, invoice_id: str, customer: str, lines: list[OrderLine]) -> str:
    """A header, one row per line, a total; also stored in ``self.text``."""
    rule = "-" * self.width + "\n"
    parts = [f"INVOICE {invoice_id}\n", f"Bill to: {customer}\n", rule]
    total = 0
    for line in lines:
        amount = line.quantity * line.unit_cents * (100 - line.discount_pct) // 100
        total += amount
        parts.append(f"{line.sku:<12}{line.quantity:>6} x {line.unit_cents:>10}{amount:>14}\n")
    parts.append(rule)
    parts.append(f"{'TOTAL':<34}{format_cents(total):>14}\n")
    self.text = "".join(parts)
    return self.text
