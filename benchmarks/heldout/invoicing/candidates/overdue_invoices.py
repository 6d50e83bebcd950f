def overdue_invoices(invoices: list[dict], today: str) -> list[str]:
    """Ids of unpaid invoices whose due date plus the grace period is before ``today``."""
    cutoff = (datetime.strptime(today, DATE_FORMAT) - timedelta(days=GRACE_DAYS)).strftime(
        DATE_FORMAT)
    return [invoice["id"] for invoice in invoices
            if not invoice["paid"] and invoice["due"] < cutoff]
