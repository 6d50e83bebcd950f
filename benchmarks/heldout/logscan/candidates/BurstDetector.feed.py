def feed(self, statuses: list[int]) -> list[int]:
    """Indexes (into ``statuses``) where a burst is detected; also kept in ``alerts``."""
    window = self.window
    flags = [1 if status >= 500 else 0 for status in statuses]
    errors = 0
    for index, flag in enumerate(flags):
        errors += flag
        if index >= window:
            errors -= flags[index - window]
        if index + 1 >= window and errors / window >= self.threshold:
            self.alerts.append(index)
    return self.alerts
