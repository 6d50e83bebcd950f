"""Inverse optimisations ("de-optimisations") of real Python functions: the front door.

:data:`TRANSFORMS` maps a name to a function that rewrites one ``ast.FunctionDef`` in place
into an equivalent, slower form and returns whether it changed anything (surrounding code
left as it is). :func:`deoptimize_source` applies one or several to a function's source and
returns the slow text, laid over the original lines (:mod:`.splice`) so that only what a
transform changed differs from the real function.

Every transform was written for behaviour equality on the inputs the function accepts; the
pipeline (:mod:`perfrl_train.data.real_pairs`) measures that by execution on a sample
(:mod:`.behaviour`) and drops a transform whose agreement rate is too low.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterable

from perfrl.sources.abstraction import bound_names

from .common import TEMPLATE_BUILTINS, skipping
from .containers import (
    append_to_concat,
    bisect_to_scan,
    counter_to_dict_loop,
    defaultdict_to_dict,
    deque_to_list,
    local_dict_membership_to_scan,
    local_set_to_list,
    set_literal_to_list,
)
from .control import early_exit_to_flag, extend_to_append_loop, invariant_into_loop
from .grouping import group_to_rescan
from .lookups import (
    alias_to_attribute,
    hoisted_attribute_to_loop,
    hoisted_len_to_loop,
    min_to_sorted,
    min_to_sorted_index,
    regex_compile_to_call,
    startswith_tuple_to_or,
)
from .loops import (
    builtin_collect_to_loop,
    dictcomp_to_loop,
    enumerate_to_range_len,
    items_to_key_lookup,
    join_to_concat,
    listcomp_to_loop,
    minmax_to_loop,
    range_to_while,
    setcomp_to_loop,
    slice_iteration_to_index,
    sum_to_loop,
    zip_to_index_loop,
)
from .membership import seen_set_to_list_scan, set_of_name_to_scan
from .quadratic import (
    concat_to_rebinding,
    dict_membership_to_keys_list,
    loop_to_pop_queue,
    reversed_map_to_insert_front,
    reversed_to_insert_front,
)
from .splice import SpliceError, splice
from .strings import dict_display_to_call, fstring_to_format

Transform = Callable[[ast.FunctionDef], bool]

TRANSFORMS: dict[str, Transform] = {
    "listcomp_to_loop": listcomp_to_loop,
    "setcomp_to_loop": setcomp_to_loop,
    "dictcomp_to_loop": dictcomp_to_loop,
    "sum_to_loop": sum_to_loop,
    "minmax_to_loop": minmax_to_loop,
    "min_to_sorted": min_to_sorted,
    "min_to_sorted_index": min_to_sorted_index,
    "join_to_concat": join_to_concat,
    "builtin_collect_to_loop": builtin_collect_to_loop,
    "enumerate_to_range_len": enumerate_to_range_len,
    "zip_to_index_loop": zip_to_index_loop,
    "items_to_key_lookup": items_to_key_lookup,
    "range_to_while": range_to_while,
    "slice_iteration_to_index": slice_iteration_to_index,
    "set_literal_to_list": set_literal_to_list,
    "local_set_to_list": local_set_to_list,
    "local_dict_membership_to_scan": local_dict_membership_to_scan,
    "counter_to_dict_loop": counter_to_dict_loop,
    "defaultdict_to_dict": defaultdict_to_dict,
    "deque_to_list": deque_to_list,
    "append_to_concat": append_to_concat,
    "bisect_to_scan": bisect_to_scan,
    "hoisted_len_to_loop": hoisted_len_to_loop,
    "alias_to_attribute": alias_to_attribute,
    "regex_compile_to_call": regex_compile_to_call,
    "startswith_tuple_to_or": startswith_tuple_to_or,
    "hoisted_attribute_to_loop": hoisted_attribute_to_loop,
    "fstring_to_format": fstring_to_format,
    "dict_display_to_call": dict_display_to_call,
    "early_exit_to_flag": early_exit_to_flag,
    "extend_to_append_loop": extend_to_append_loop,
    "invariant_into_loop": invariant_into_loop,
    "reversed_to_insert_front": reversed_to_insert_front,
    "reversed_map_to_insert_front": reversed_map_to_insert_front,
    "concat_to_rebinding": concat_to_rebinding,
    "dict_membership_to_keys_list": dict_membership_to_keys_list,
    "loop_to_pop_queue": loop_to_pop_queue,
    "set_of_name_to_scan": set_of_name_to_scan,
    "seen_set_to_list_scan": seen_set_to_list_scan,
    "group_to_rescan": group_to_rescan,
}

#: Transforms that can rewrite a later site than the first (``NAME@K`` passes over K sites).
SITE_VARIANTS = frozenset({
    "listcomp_to_loop", "setcomp_to_loop", "dictcomp_to_loop", "sum_to_loop", "minmax_to_loop",
    "min_to_sorted", "join_to_concat", "builtin_collect_to_loop", "enumerate_to_range_len",
    "items_to_key_lookup", "alias_to_attribute", "hoisted_attribute_to_loop",
    "startswith_tuple_to_or", "fstring_to_format", "dict_display_to_call",
    "early_exit_to_flag", "extend_to_append_loop", "invariant_into_loop",
    "reversed_to_insert_front", "reversed_map_to_insert_front", "concat_to_rebinding",
    "dict_membership_to_keys_list",
    "set_of_name_to_scan", "seen_set_to_list_scan",
})

#: A transform can only apply to a function whose features (node types, attribute and name
#: identifiers: :func:`features`) include one of these; a cheap filter before trying it.
REQUIRES: dict[str, frozenset[str]] = {
    "listcomp_to_loop": frozenset({"ListComp"}),
    "setcomp_to_loop": frozenset({"SetComp"}),
    "dictcomp_to_loop": frozenset({"DictComp"}),
    "sum_to_loop": frozenset({"sum"}),
    "minmax_to_loop": frozenset({"min", "max"}),
    "min_to_sorted": frozenset({"min", "max"}),
    "min_to_sorted_index": frozenset({"IndexError"}),
    "join_to_concat": frozenset({"join"}),
    "builtin_collect_to_loop": frozenset({"list", "set"}),
    "enumerate_to_range_len": frozenset({"enumerate"}),
    "zip_to_index_loop": frozenset({"zip"}),
    "items_to_key_lookup": frozenset({"items"}),
    "range_to_while": frozenset({"range"}),
    "slice_iteration_to_index": frozenset({"Slice"}),
    "set_literal_to_list": frozenset({"Set"}),
    "local_set_to_list": frozenset({"Set", "SetComp", "set"}),
    "local_dict_membership_to_scan": frozenset({"Dict", "DictComp", "dict"}),
    "counter_to_dict_loop": frozenset({"Counter"}),
    "defaultdict_to_dict": frozenset({"defaultdict"}),
    "deque_to_list": frozenset({"deque"}),
    "append_to_concat": frozenset({"append", "extend"}),
    "bisect_to_scan": frozenset({"bisect", "bisect_left", "bisect_right"}),
    "hoisted_len_to_loop": frozenset({"len"}),
    "alias_to_attribute": frozenset({"For", "While"}),
    "regex_compile_to_call": frozenset({"compile"}),
    "startswith_tuple_to_or": frozenset({"startswith", "endswith"}),
    "hoisted_attribute_to_loop": frozenset({"For", "While"}),
    "fstring_to_format": frozenset({"JoinedStr"}),
    "dict_display_to_call": frozenset({"Dict"}),
    "early_exit_to_flag": frozenset({"Return"}),
    "extend_to_append_loop": frozenset({"extend"}),
    "invariant_into_loop": frozenset({"For", "While"}),
    "reversed_to_insert_front": frozenset({"reversed", "Slice"}),
    "reversed_map_to_insert_front": frozenset({"reversed", "Slice"}),
    "concat_to_rebinding": frozenset({"AugAssign"}),
    "dict_membership_to_keys_list": frozenset({"In", "NotIn"}),
    "loop_to_pop_queue": frozenset({"For"}),
    "set_of_name_to_scan": frozenset({"set", "frozenset"}),
    "seen_set_to_list_scan": frozenset({"add"}),
    "group_to_rescan": frozenset({"setdefault"}),
}

__all__ = ["REQUIRES", "SITE_VARIANTS", "TRANSFORMS", "SpliceError", "apply_transforms",
           "candidates", "deoptimize_source", "features", "transformable"]


def features(fn: ast.AST) -> set[str]:
    """Node type names, attribute names and names of a function (for :data:`REQUIRES`)."""
    out: set[str] = set()
    for node in ast.walk(fn):
        out.add(type(node).__name__)
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def candidates(fn: ast.AST) -> list[str]:
    """The transforms that might apply to ``fn`` (a superset of those that do)."""
    have = features(fn)
    return [name for name in TRANSFORMS if REQUIRES.get(name, frozenset()) & have
            or name not in REQUIRES]


def transformable(fn: ast.AST, kept: Iterable[str] = ()) -> bool:
    """Whether the transforms may touch ``fn``: a plain ``def`` that rebinds none of the
    builtins their templates call (nor does its module: ``kept`` are module-scope names)."""
    if not isinstance(fn, ast.FunctionDef):
        return False
    return not (bound_names(fn) | set(kept)) & TEMPLATE_BUILTINS


def apply_transforms(fn: ast.FunctionDef | str, names: Iterable[str]) -> ast.FunctionDef | None:
    """A transformed copy of ``fn`` (``fn`` itself untouched; given as source text, it is
    parsed, which is faster than copying a tree), or None unless every named transform
    changed something. A name may end in ``@K`` (a transform of :data:`SITE_VARIANTS`): it
    passes over its first K applicable sites and rewrites the next. Raises KeyError for an
    unknown name."""
    if isinstance(fn, str):
        parsed = ast.parse(fn).body[0]
        assert isinstance(parsed, ast.FunctionDef)
        work = parsed
    else:
        work = copy.deepcopy(fn)
    for spec in names:
        name, _, skip = spec.partition("@")
        if name not in TRANSFORMS:
            raise KeyError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        with skipping(int(skip or 0)):
            if not TRANSFORMS[name](work):
                return None
    ast.fix_missing_locations(work)
    return work


def deoptimize_source(code: str, names: Iterable[str],
                      kept: Iterable[str] = ()) -> tuple[str, str] | None:
    """(slow, fast) for the function in ``code`` under the named transforms, or None when one
    does not apply. ``fast`` is ``code`` itself when the slow text could be laid over its lines;
    otherwise both sides are ``ast.unparse`` output (same layout on both sides)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not transformable(tree.body[0], kept):
        return None
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    new = apply_transforms(code, names)
    if new is None:
        return None
    try:
        slow = splice(code, fn, new)  # parsed back and compared to the tree: valid Python
        fast = code if code.endswith("\n") else code + "\n"
    except SpliceError:
        slow, fast = ast.unparse(new) + "\n", ast.unparse(fn) + "\n"
        try:
            compile(slow, "<deopt>", "exec")
        except SyntaxError:
            return None
    if slow == fast:
        return None
    return slow, fast
