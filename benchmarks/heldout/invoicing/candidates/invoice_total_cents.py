def invoice_total_cents(lines: list[OrderLine], tier: str = "standard") -> int:
    """Sum of the discounted line amounts, each rounded down to the cent.

    A line gets its own discount or the customer tier's, whichever is larger; an unknown tier
    gets none. ``tier`` is matched case-insensitively.
    """
    tier_pct = TIER_DISCOUNT_PCT.get(tier.strip().lower(), 0)
    return sum([line.quantity * line.unit_cents
                * (100 - (line.discount_pct if line.discount_pct > tier_pct else tier_pct)) // 100
                for line in lines])
