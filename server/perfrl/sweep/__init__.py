"""A whole project: optimize many functions resumably (:func:`optimize_targets`), measure what
all verified rewrites gain together end to end (:func:`measure_gain`), and report it."""

from perfrl.sweep.gain import WholeRunGain, combined_rewrites, estimated_gain, measure_gain
from perfrl.sweep.run import FunctionOutcome, optimize_targets

__all__ = ["FunctionOutcome", "WholeRunGain", "combined_rewrites", "estimated_gain",
           "measure_gain", "optimize_targets"]
