def duplicate_accounts(members: list[Member]) -> list[tuple[int, int]]:
    """Pairs of member ids that share an e-mail address (case-insensitive), in id order."""
    positions: dict[str, list[int]] = {}
    for index, member in enumerate(members):
        positions.setdefault(member.email.lower(), []).append(index)
    pairs = []
    for indexes in positions.values():
        for a in range(len(indexes)):
            for b in range(a + 1, len(indexes)):
                pairs.append((members[indexes[a]].member_id, members[indexes[b]].member_id))
    return sorted(pairs)
