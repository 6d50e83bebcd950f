"""Orders, invoices and payments for a small wholesale business."""

__version__ = "0.3.1"
