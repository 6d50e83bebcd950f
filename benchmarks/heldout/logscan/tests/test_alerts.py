from logscan.alerts import BurstDetector, blocked_hits, busiest_client, newest_first


def test_blocked_hits(records):
    ips = sorted({r["ip"] for r in records})
    blocklist = ips[::4] + [f"192.168.0.{i}" for i in range(200)]
    hits = blocked_hits(records, blocklist)
    assert hits == [r for r in records if r["ip"] in set(blocklist)]
    assert blocked_hits(records, []) == []


def test_burst_detector(records):
    statuses = [r["status"] for r in records]
    statuses[1000:1040] = [503] * 40
    detector = BurstDetector()
    alerts = detector.feed(statuses)
    assert alerts is detector.alerts
    assert 1039 in alerts and all(a >= 49 for a in alerts)
    for index in alerts[:25]:
        window = statuses[index - 49:index + 1]
        assert sum(s >= 500 for s in window) >= 10


def test_burst_detector_small():
    detector = BurstDetector(window=3, threshold=0.5)
    assert detector.feed([200, 500, 500, 200, 200, 200, 500]) == [2, 3]


def test_newest_first(records):
    assert newest_first(records, 20) == [r["path"] for r in records[::-1][:20]]
    assert newest_first(records, 0) == []


def test_busiest_client(records):
    ip = busiest_client(records)
    counts = {}
    for r in records:
        counts[r["ip"]] = counts.get(r["ip"], 0) + 1
    assert counts[ip] == max(counts.values())
    assert busiest_client([]) == ""
    assert busiest_client([{"ip": "b"}, {"ip": "a"}, {"ip": "a"}, {"ip": "b"}]) == "b"
