def statement_entries(invoices: list[dict], credit_notes: list[dict]) -> list[dict]:
    """Invoices followed by credit notes, each as a statement entry with a signed amount."""
    entries = [{"ref": invoice["id"], "cents": invoice["cents"]} for invoice in invoices]
    entries.extend({"ref": note["id"], "cents": -note["cents"]} for note in credit_notes)
    return entries
