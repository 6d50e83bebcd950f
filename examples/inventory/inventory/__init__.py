"""A small warehouse-inventory package (the PerfRL demo project)."""
