def valid_coupons(codes: list[str]) -> list[str]:
    """Codes of the form PREFIX-NNNN with a known campaign prefix, upper-cased."""
    match = re.compile(r"^(" + "|".join(COUPON_PREFIXES) + r")-(\d{4})$", re.IGNORECASE).match
    accepted = []
    for code in codes:
        code = code.strip()
        if match(code):
            accepted.append(code.upper())
    return accepted
