"""Study-room bookings and the holds queue."""

from __future__ import annotations

from collections.abc import Iterable

OPENING_HOUR = 9
CLOSING_HOUR = 20


def free_hours(bookings: list[tuple[str, int, int]], room: str) -> list[int]:
    """Opening hours (start hours) when ``room`` is not booked; a booking is (room, start, end)."""
    free = []
    for hour in range(OPENING_HOUR, CLOSING_HOUR):
        taken = False
        for booked_room, start, end in bookings:
            if booked_room == room and start <= hour < end:
                taken = True
        if not taken:
            free.append(hour)
    return free


def serve_holds(holds: Iterable[tuple[int, str]], copies: dict[str, int]) -> list[tuple[int, str]]:
    """Hand returned copies to waiting members, first come first served.

    ``holds`` is (member id, isbn) in the order placed; ``copies`` is how many copies of each
    isbn came back. Returns the (member id, isbn) holds filled; ``copies`` is not changed.
    """
    left = dict(copies)
    queue = list(holds)
    filled = []
    while queue:
        member_id, isbn = queue.pop(0)
        if left.get(isbn, 0) > 0:
            left[isbn] -= 1
            filled.append((member_id, isbn))
    return filled


def day_schedule(bookings: list[tuple[str, int, int]]) -> str:
    """The printed schedule: one line per booking ordered by start hour then room."""
    schedule = ""
    for room, start, end in sorted(bookings, key=lambda b: (b[1], b[0])):
        schedule = schedule + f"{start:02d}:00-{end:02d}:00  " + room + "\n"
    return schedule
