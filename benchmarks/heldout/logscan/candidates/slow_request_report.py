def slow_request_report(records: list[dict]) -> str:
    """One line per request slower than SLOW_REQUEST_MS, as pasted into incident tickets."""
    return "".join([f"{record['ip']:<16} {record['path']:<32} {record['ms']:>6} ms\n"
                    for record in records if record["ms"] > SLOW_REQUEST_MS])
