def members_in_postcodes(members: list[Member], postcodes: list[str]) -> list[int]:
    """Ids of members living in one of ``postcodes`` (outreach mailings)."""
    wanted = set(postcodes)
    return [member.member_id for member in members if member.postcode in wanted]
