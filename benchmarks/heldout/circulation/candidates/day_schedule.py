def day_schedule(bookings: list[tuple[str, int, int]]) -> str:
    """The printed schedule: one line per booking ordered by start hour then room."""
    return "".join([f"{start:02d}:00-{end:02d}:00  {room}\n"
                    for room, start, end in sorted(bookings, key=lambda b: (b[1], b[0]))])
