"""What the editor tests that show the model's rewrite share: one more job when the measured
verdict, not the flow, went against the rewrite."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: The job's outcome when its only candidate, the model's rewrite, measured not faster.
NOT_FASTER_ONCE = "1 tried: 1 not faster"


def once_more_if_not_faster(run: Callable[[], T], reset: Callable[[], None]) -> T:
    """``run()``; when it fails because the model's one rewrite measured not faster, ``reset()``
    and ``run()`` again (its failure fails the test).

    The example's `+=` loop grows a local string in place, so what `str.join` gains depends on
    where the allocator puts the string (1.0x to 5x here by size and process): one "not
    faster" is the verifier being right about one heap layout, not the editor flow failing.
    Any other failure is raised at once."""
    try:
        return run()
    except AssertionError as first:
        if NOT_FASTER_ONCE not in str(first):
            raise
        warnings.warn(f"the model's rewrite measured not faster once; ran again:\n{first}",
                      stacklevel=2)
        reset()
        return run()
