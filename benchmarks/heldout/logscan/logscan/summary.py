"""Summaries of parsed access-log records (dicts with ip, path, status, bytes, ms)."""

from __future__ import annotations

import statistics

SLOW_REQUEST_MS = 300
ERROR_STATUSES = range(500, 600)


def count_by_status(records: list[dict]) -> dict[int, int]:
    """How many responses had each status code."""
    histogram: dict[int, int] = {}
    for record in records:
        if record["status"] in histogram.keys():
            histogram[record["status"]] += 1
        else:
            histogram[record["status"]] = 1
    return histogram


def distinct_clients(records: list[dict]) -> list[str]:
    """Client IPs in order of their first request."""
    clients = []
    for record in records:
        if record["ip"] not in clients:
            clients.append(record["ip"])
    return clients


def slowest_request(records: list[dict]) -> dict:
    """The record with the highest response time (the first such one on a tie)."""
    return sorted(records, key=lambda record: record["ms"], reverse=True)[0]


def total_bytes_served(records: list[dict]) -> int:
    """Bytes sent in all successful (2xx) responses."""
    total = 0
    for i in range(len(records)):
        if records[i]["status"] >= 200 and records[i]["status"] < 300:
            total = total + records[i]["bytes"]
    return total


def median_latency_by_path(records: list[dict]) -> dict[str, float]:
    """Median response time of each request path, paths in order of first appearance."""
    paths = []
    for record in records:
        if record["path"] not in paths:
            paths.append(record["path"])
    medians = {}
    for path in paths:
        times = [record["ms"] for record in records if record["path"] == path]
        medians[path] = statistics.median(times)
    return medians


def error_rate(records: list[dict]) -> float:
    """Fraction of responses with a 5xx status (0.0 for no records)."""
    errors = 0
    for record in records:
        if record["status"] in list(ERROR_STATUSES):
            errors += 1
    return errors / len(records) if records else 0.0


def slow_request_report(records: list[dict]) -> str:
    """One line per request slower than SLOW_REQUEST_MS, as pasted into incident tickets."""
    report = ""
    for record in records:
        if record["ms"] > SLOW_REQUEST_MS:
            report = report + f"{record['ip']:<16} {record['path']:<32} {record['ms']:>6} ms" + "\n"
    return report
