from logscan.parsing import parse_access_line, parse_app_lines, split_query_strings


def test_parse_app_lines(app_lines):
    records = parse_app_lines(app_lines)
    assert len(records) == len(app_lines) - len([l for l in app_lines if l.startswith("Trace")])
    first = records[0]
    assert set(first) == {"date", "time", "level", "module", "message"}
    assert all(r["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") for r in records)


def test_parse_app_lines_small():
    lines = ["2026-03-01 10:00:00 ERROR app.db: lost connection", "garbage",
             "2026-03-01 10:00:01 NOTICE app.db: unknown level"]
    assert parse_app_lines(lines) == [{"date": "2026-03-01", "time": "10:00:00", "level": "ERROR",
                                       "module": "app.db", "message": "lost connection"}]


def test_parse_access_line():
    record = parse_access_line('1.2.3.4 - - [01/Mar/2026:12:00:00 +0000] "GET /a HTTP/1.1" 204 - 12')
    assert record["status"] == 204 and record["bytes"] == 0 and record["ms"] == 12
    assert parse_access_line("nonsense") is None


def test_split_query_strings():
    paths = []
    for i in range(1500):
        query = "&".join(f"k{j}={i * j}" for j in range(i % 6))
        paths.append(f"/search?{query}&flag&k0=dup" if i % 3 == 0 else f"/item/{i}")
    result = split_query_strings(paths)
    assert len(result) == 1500
    assert result[0] == ("/search", {"flag": "", "k0": "dup"})
    assert result[3] == ("/search", {"k0": "0", "k1": "3", "k2": "6", "flag": ""})
    assert result[1] == ("/item/1", {})
