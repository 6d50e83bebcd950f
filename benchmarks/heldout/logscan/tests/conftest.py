import random

import pytest

from logscan.parsing import parse_access_line

PATHS = ["/", "/login", "/logout", "/api/items", "/api/items/42", "/api/orders", "/static/app.js",
         "/static/site.css", "/search", "/account", "/cart", "/checkout", "/health"]
MODULES = ["app.web", "app.db", "app.auth", "worker.mail", "worker.sync"]
MESSAGES = ["request handled", "cache miss for key user:17", "connection reset by peer",
            "retrying in 2s", "slow query (812 ms)", "user logged in", "token expired"]


def make_access_lines(count, clients=250, seed=21):
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        ip = f"10.{rng.randrange(4)}.{rng.randrange(8)}.{rng.randrange(clients // 32 + 1)}"
        status = rng.choices([200, 201, 204, 301, 304, 404, 500, 502, 503],
                             [60, 5, 3, 4, 6, 8, 5, 2, 2])[0]
        size = "-" if status in (204, 304) else str(rng.randint(120, 90000))
        ms = int(rng.expovariate(1 / 180))
        when = f"01/Mar/2026:12:{(i // 60) % 60:02d}:{i % 60:02d} +0000"
        method = rng.choice(["GET", "GET", "GET", "POST"])
        lines.append(f'{ip} - - [{when}] "{method} {rng.choice(PATHS)} HTTP/1.1" {status} {size} {ms}')
    return lines


def make_app_lines(count, seed=8):
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        level = rng.choices(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], [30, 50, 10, 8, 2])[0]
        stamp = f"2026-03-01 {(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}"
        if i % 97 == 0:
            lines.append(f"Traceback (most recent call last): line {i}")
        else:
            lines.append(f"{stamp} {level} {rng.choice(MODULES)}: {rng.choice(MESSAGES)}")
    return lines


@pytest.fixture
def access_lines():
    return make_access_lines(3000)


@pytest.fixture
def records(access_lines):
    return [parse_access_line(line) for line in access_lines]


@pytest.fixture
def app_lines():
    return make_app_lines(2000)
