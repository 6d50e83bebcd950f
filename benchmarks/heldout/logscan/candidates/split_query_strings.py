def split_query_strings(paths: list[str]) -> list[tuple[str, dict[str, str]]]:
    """(path, query parameters) for each request path; a parameter without '=' maps to ''."""
    result = []
    for raw in paths:
        path, _, query = raw.partition("?")
        params = {}
        if query:
            for pair in query.split("&"):
                if pair:
                    key, _, value = pair.partition("=")
                    params.setdefault(key, value)
        result.append((path, params))
    return result
