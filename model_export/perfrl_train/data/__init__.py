"""PerfRL training data: slow->fast function pairs and the PIE evaluation set.

Sources: procedural idiom templates (:mod:`.generator`, :mod:`.idioms`), de-optimised
standard-library functions (:mod:`.deoptimize`) and PIE programs for evaluation only
(:mod:`.pie`). :mod:`.splits` keeps whole idioms / modules out of training; :mod:`.project`
turns a pair into a small pytest project; ``python -m perfrl_train.data.build`` writes it all.
"""

from .generator import generate_pairs, idiom_names, make_pair
from .idioms import ALL_IDIOMS
from .inputs import all_inputs, expand_call
from .pairs import CodePair, PairFormatError, iter_jsonl, read_jsonl, write_jsonl
from .pie import PieProgramPair, load_pie_pairs
from .project import ProjectError, materialize_project
from .splits import SplitLeakError, assert_no_pie_in_training, assign_splits
from .verify import VerifyReport, time_pair, verify_pairs

__all__ = [
    "ALL_IDIOMS",
    "CodePair",
    "PairFormatError",
    "PieProgramPair",
    "ProjectError",
    "SplitLeakError",
    "VerifyReport",
    "all_inputs",
    "assert_no_pie_in_training",
    "assign_splits",
    "expand_call",
    "generate_pairs",
    "idiom_names",
    "iter_jsonl",
    "load_pie_pairs",
    "make_pair",
    "materialize_project",
    "read_jsonl",
    "time_pair",
    "verify_pairs",
    "write_jsonl",
]
