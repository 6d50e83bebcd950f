"""Alerting on suspicious clients and error bursts."""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 50
BURST_THRESHOLD = 0.2


def blocked_hits(records: list[dict], blocklist: list[str]) -> list[dict]:
    """Requests made by a blocklisted IP, in log order."""
    hits = []
    for record in records:
        if record["ip"] in blocklist:
            hits.append(record)
    return hits


@dataclass
class BurstDetector:
    """Flags positions where the share of 5xx responses over the last WINDOW requests is high."""

    window: int = WINDOW
    threshold: float = BURST_THRESHOLD
    alerts: list[int] = field(default_factory=list)

    def feed(self, statuses: list[int]) -> list[int]:
        """Indexes (into ``statuses``) where a burst is detected; also kept in ``alerts``."""
        recent: list[int] = []
        for index, status in enumerate(statuses):
            recent.append(1 if status >= 500 else 0)
            if len(recent) > self.window:
                recent.pop(0)
            if len(recent) == self.window and sum(recent) / self.window >= self.threshold:
                self.alerts.append(index)
        return self.alerts


def newest_first(records: list[dict], limit: int) -> list[str]:
    """The paths of the last ``limit`` requests, newest first."""
    shown: list[str] = []
    for record in records:
        shown.insert(0, record["path"])
    return shown[:limit]


def busiest_client(records: list[dict]) -> str:
    """The IP with the most requests (on a tie, the one seen first)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record["ip"]] = counts.get(record["ip"], 0) + 1
    best_ip = ""
    best = 0
    for ip in counts:
        if counts[ip] > best:
            best = counts[ip]
            best_ip = ip
    return best_ip
