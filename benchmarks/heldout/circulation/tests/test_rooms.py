import random

from circulation.rooms import day_schedule, free_hours, serve_holds


def make_bookings(count, seed=1):
    rng = random.Random(seed)
    rooms = [f"Room {c}" for c in "ABCDEFGH"]
    bookings = []
    for _ in range(count):
        start = rng.randint(9, 18)
        bookings.append((rng.choice(rooms), start, min(20, start + rng.randint(1, 2))))
    return bookings


def test_free_hours():
    bookings = make_bookings(400)
    free = free_hours(bookings, "Room Z")
    assert free == list(range(9, 20))
    small = [("A", 9, 11), ("B", 12, 13), ("A", 15, 16)]
    assert free_hours(small, "A") == [11, 12, 13, 14, 16, 17, 18, 19]
    assert free_hours(bookings[:3], bookings[0][0]) == [
        h for h in range(9, 20)
        if not any(r == bookings[0][0] and s <= h < e for r, s, e in bookings[:3])]


def test_serve_holds():
    rng = random.Random(3)
    holds = [(rng.randrange(500), f"isbn-{rng.randrange(80)}") for _ in range(4000)]
    copies = {f"isbn-{i}": i % 4 for i in range(80)}
    filled = serve_holds(holds, copies)
    assert copies["isbn-3"] == 3
    assert len(filled) <= sum(copies.values())
    assert filled[0] == next(h for h in holds if copies[h[1]] > 0)
    assert serve_holds([(1, "x"), (2, "x")], {"x": 1}) == [(1, "x")]


def test_day_schedule():
    bookings = make_bookings(3000, seed=2)
    schedule = day_schedule(bookings)
    lines = schedule.splitlines()
    assert len(lines) == 3000
    assert lines[0].startswith("09:00-")
    assert day_schedule([("B", 10, 11), ("A", 10, 12)]) == "10:00-12:00  A\n10:00-11:00  B\n"
