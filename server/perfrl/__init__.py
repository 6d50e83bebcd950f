"""PerfRL: verified, measured optimization of Python functions."""

__version__ = "0.1.0"
