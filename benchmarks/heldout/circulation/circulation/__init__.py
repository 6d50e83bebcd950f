"""Loans, holds, fines and room bookings for a public library branch."""
