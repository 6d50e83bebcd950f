def free_hours(bookings: list[tuple[str, int, int]], room: str) -> list[int]:
    """Opening hours (start hours) when ``room`` is not booked; a booking is (room, start, end)."""
    taken = set()
    for booked_room, start, end in bookings:
        if booked_room == room:
            taken.update(range(start, end))
    return [hour for hour in range(OPENING_HOUR, CLOSING_HOUR) if hour not in taken]
