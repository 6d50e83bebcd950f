"""The catalogue of slow->fast idiom templates used by the synthetic pair generator."""

from __future__ import annotations

from . import containers, loops, strings
from .base import ROLE_POOLS, Idiom, RenderedPair, render

ALL_IDIOMS: dict[str, Idiom] = {}
for _module in (containers, loops, strings):
    for _idiom in _module.IDIOMS:
        if _idiom.name in ALL_IDIOMS:
            raise RuntimeError(f"duplicate idiom name {_idiom.name}")
        ALL_IDIOMS[_idiom.name] = _idiom

__all__ = ["ALL_IDIOMS", "ROLE_POOLS", "Idiom", "RenderedPair", "render"]
