def median_latency_by_path(records: list[dict]) -> dict[str, float]:
    """Median response time of each request path, paths in order of first appearance."""
    times_by_path: dict[str, list] = {}
    for record in records:
        times = times_by_path.get(record["path"])
        if times is None:
            times_by_path[record["path"]] = [record["ms"]]
        else:
            times.append(record["ms"])
    return {path: statistics.median(times) for path, times in times_by_path.items()}
