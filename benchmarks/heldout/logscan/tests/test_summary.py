import statistics

from logscan.summary import (
    count_by_status,
    distinct_clients,
    error_rate,
    median_latency_by_path,
    slow_request_report,
    slowest_request,
    total_bytes_served,
)


def test_count_by_status(records):
    histogram = count_by_status(records)
    assert sum(histogram.values()) == len(records)
    assert histogram[200] == sum(1 for r in records if r["status"] == 200)
    assert list(histogram)[0] == records[0]["status"]


def test_distinct_clients(records):
    clients = distinct_clients(records)
    assert len(clients) == len({r["ip"] for r in records})
    assert clients[0] == records[0]["ip"]
    assert clients == sorted(clients, key=[r["ip"] for r in records].index)


def test_slowest_request(records):
    slowest = slowest_request(records)
    assert slowest["ms"] == max(r["ms"] for r in records)
    assert slowest is next(r for r in records if r["ms"] == slowest["ms"])


def test_total_bytes_served(records):
    assert total_bytes_served(records) == sum(r["bytes"] for r in records if r["status"] < 300)
    assert total_bytes_served([]) == 0


def test_median_latency_by_path(records):
    medians = median_latency_by_path(records)
    assert set(medians) == {r["path"] for r in records}
    assert medians["/login"] == statistics.median(r["ms"] for r in records if r["path"] == "/login")
    assert list(medians)[0] == records[0]["path"]


def test_error_rate(records):
    expected = sum(1 for r in records if r["status"] >= 500) / len(records)
    assert error_rate(records) == expected
    assert error_rate([]) == 0.0


def test_slow_request_report(records):
    report = slow_request_report(records)
    lines = report.splitlines()
    assert len(lines) == sum(1 for r in records if r["ms"] > 300)
    assert all(line.endswith(" ms") for line in lines)
    assert slow_request_report([]) == ""
