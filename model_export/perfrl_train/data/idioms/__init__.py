"""The catalogue of slow->fast idiom templates used by the synthetic pair generator.

Idioms come in catalogues: ``core`` (ints, strings and containers; what the shipped model
was trained on), ``records`` (rows of a table as dicts, :mod:`.records`) and ``keyed`` (the
same rows read through a key or filtered, :mod:`.keyed`). Generation uses
:data:`DEFAULT_CATALOGUES` unless told otherwise, so that adding a catalogue never changes
the data (and the held-out idioms) of a recipe that did not ask for it.
"""

from __future__ import annotations

from . import containers, keyed, loops, records, strings
from .base import ROLE_POOLS, Idiom, RenderedPair, render

_MODULES = {"core": (containers, loops, strings), "records": (records,), "keyed": (keyed,)}

ALL_IDIOMS: dict[str, Idiom] = {}
CATALOGUES: dict[str, tuple[str, ...]] = {}
for _catalogue, _modules in _MODULES.items():
    _names = []
    for _module in _modules:
        for _idiom in _module.IDIOMS:
            if _idiom.name in ALL_IDIOMS:
                raise RuntimeError(f"duplicate idiom name {_idiom.name}")
            ALL_IDIOMS[_idiom.name] = _idiom
            _names.append(_idiom.name)
    CATALOGUES[_catalogue] = tuple(sorted(_names))

DEFAULT_CATALOGUES = ("core",)

__all__ = [
    "ALL_IDIOMS",
    "CATALOGUES",
    "DEFAULT_CATALOGUES",
    "ROLE_POOLS",
    "Idiom",
    "RenderedPair",
    "render",
]
