"""Behaviour of de-optimised real functions, checked by execution on a sample.

For a pair whose function is a module-level function of an importable module (the standard
library or an installed package: the corpus records the file), :func:`check_pairs` runs the
real function and its de-optimised copy on fuzzed argument tuples in a separate process
(``_behaviour_worker.py`` under bubblewrap: read-only file system, no network, its own /tmp),
both defined in the real module's namespace, and counts how often they agree
(:mod:`._behaviour_worker` says what agreeing means). Nothing is executed in the calling
process.

A caller may rely on the rates of :func:`check_pairs` counting only pairs with at least one
input on which the original returned normally (a function that raises TypeError on every
fuzzed input tells nothing) and on :func:`drop_transforms` removing every pair that used one
of the named transforms from the split files.
"""

from __future__ import annotations

import ast
import json
import random
import shutil
import subprocess
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

_WORKER = Path(__file__).with_name("_behaviour_worker.py")
SPLITS = ("train", "valid", "eval")

#: Argument values the fuzzer draws from: small values of the common types.
POOL: list[Any] = [
    0, 1, 2, 3, 7, 10, -1, 255, 0.5, 1.5, -2.25, "", "a", "abc", "Hello World", "a,b;c d",
    "  x\ty  \n", "foo_bar-baz", "A1b2C3", "3.14", "1.2.3", "key=value", "/usr/lib/x.py",
    "http://example.com/a?b=1", [], [1, 2, 3], [3, 1, 2, 2], ["a", "bb", "c"], ["x", "y", "z"],
    (1, 2), ("x", "y"), (), {"a": 1, "b": 2}, {}, {"x": "1", "y": ""}, None, True, False,
    b"abc", b"", [[1, 2], [2, 3]], [(1, "a"), (2, "b")], [0, 1, 0], {1, 2, 3}, "x" * 40,
    list(range(20)), [1.5, -2.0, 3.25],
]


def module_name(path_label: str, package: str) -> str | None:
    """The importable module name of a corpus row's file label, or None when not found."""
    label = Path(path_label)
    if package.startswith("stdlib:"):
        parts = list(label.with_suffix("").parts)
    else:
        found = _site_packages_file(path_label)
        if found is None:
            return None
        parts = list(found.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


_SITE_INDEX: dict[str, Path] = {}


def _site_packages_file(label: str) -> Path | None:
    """The file's path relative to site-packages for a label of its last path parts."""
    if not _SITE_INDEX:
        root = Path(sysconfig.get_paths()["purelib"])
        for path in root.rglob("*.py"):
            relative = path.relative_to(root)
            _SITE_INDEX.setdefault("/".join(path.parts[-3:]), relative)
    return _SITE_INDEX.get(label)


#: Values of one kind: half the fuzzed tuples draw every argument from one family, so that a
#: function of three numbers or two strings gets inputs it accepts.
FAMILIES: list[list[Any]] = [
    [0, 1, 2, 3, 7, 10, -1, 255],
    [0.0, 0.5, 1.5, -2.25, 1e-3, 3.0],
    ["", "a", "abc", "Hello World", "a,b;c d", "foo_bar-baz", "1.2.3", "key=value", "x y\tz"],
    [[], [1, 2, 3], [3, 1, 2, 2], [0, 1, 0], list(range(20)), [-5, 4]],
    [["a", "bb", "c"], ["x", "y", "z"], [], ["1", "22", ""]],
    [{"a": 1, "b": 2}, {}, {"x": "1", "y": ""}, {1: [2, 3], 2: []}],
    [b"", b"abc", b"a,b"],
]


#: Values for a parameter annotated ``list[str]`` (a grown function's list, :mod:`..inject`):
#: lists of the strings the other families hold, so membership tests sometimes hit.
STRING_LISTS: list[Any] = [[], ["a"], ["a", "abc", ""], ["x", "y", "z"], ["Hello World", "1.2.3"],
                           ["foo_bar-baz", "key=value", "a,b;c d", "x y\tz", "bb", "c"]]


#: Values for a parameter annotated ``dict[str, str]`` (a grown function's mapping): keyed by
#: the strings the other families hold, so lookups sometimes hit.
STRING_DICTS: list[Any] = [{}, {"a": "b"}, {"a": "x", "abc": "", "": "a"}, {"x": "y", "z": "x"},
                           {"Hello World": "1.2.3", "foo_bar-baz": "key=value"}]

_TYPED_POOLS = {"list[str]": STRING_LISTS, "dict[str, str]": STRING_DICTS}


def _typed_pool(param: ast.arg) -> list[Any] | None:
    """The values an annotation asks for, where the fuzzer knows it (``list[str]``,
    ``dict[str, str]``), else None."""
    if param.annotation is None:
        return None
    return _TYPED_POOLS.get(ast.unparse(param.annotation))


def fuzz_inputs(code: str, rng: random.Random, count: int = 24) -> list[str]:
    """Literal argument tuples for the function in ``code``: every arity from its required
    positional parameters to all of them; half of them with every value from one of
    :data:`FAMILIES`, half drawn from :data:`POOL` across kinds; a parameter annotated
    ``list[str]`` always gets one of :data:`STRING_LISTS`, ``dict[str, str]`` one of
    :data:`STRING_DICTS`."""
    fn = ast.parse(code).body[0]
    assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
    params = fn.args.posonlyargs + fn.args.args
    typed = [_typed_pool(param) for param in params]
    required = len(params) - len(fn.args.defaults)
    out: set[str] = set()
    for attempt in range(count * 4):
        k = rng.randint(required, len(params))
        pool = rng.choice(FAMILIES) if attempt % 2 == 0 else POOL
        out.add(repr(tuple(rng.choice(typed[i] or pool) for i in range(k))))
        if len(out) >= count:
            break
    return sorted(out)


def checkable(pair: dict) -> bool:
    """A module-level plain function with positional parameters only."""
    if "." in pair.get("qualname", ".") or not pair.get("path"):
        return False
    try:
        fn = ast.parse(pair["fast_code"]).body[0]
    except (SyntaxError, IndexError):
        return False
    if not isinstance(fn, ast.FunctionDef) or fn.args.kwonlyargs or fn.args.vararg \
            or fn.args.kwarg:
        return False
    return bool(fn.args.posonlyargs or fn.args.args)


def sandbox_command() -> list[str]:
    """bubblewrap around the worker: read-only root, private /tmp, no network, own pids."""
    python = [sys.executable, "-I", "-X", "faulthandler", str(_WORKER)]
    if shutil.which("bwrap") is None:
        raise RuntimeError("bubblewrap (bwrap) is needed to run real functions sandboxed")
    private_tmp = "/tmp"  # noqa: S108 - a fresh tmpfs inside the sandbox, not the host's
    # The worker script and the interpreter's environment may live under the host's /tmp (a
    # checkout or venv there): mounted again over the private /tmp, read-only.
    keep = sorted({str(_WORKER.parent.resolve()), str(Path(sys.prefix).resolve())})
    rebinds = [arg for path in keep for arg in ("--ro-bind", path, path)]
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", private_tmp, *rebinds, "--unshare-all", "--die-with-parent",
            "--new-session", "--chdir", private_tmp, *python]


def run_module_batch(module: str, items: list[dict], *, call_timeout_s: float = 1.0,
                     total_timeout_s: float = 240.0) -> dict[str, dict]:
    """Results per item key from one sandboxed worker; every item marked with an error when
    the worker dies or overruns."""
    request = {"module": module, "items": items, "call_timeout_s": call_timeout_s}
    try:
        proc = subprocess.run(sandbox_command(), input=json.dumps(request), text=True,
                              capture_output=True, timeout=total_timeout_s, check=False)
        results = json.loads(proc.stdout)["results"]
    except (subprocess.TimeoutExpired, json.JSONDecodeError, KeyError) as exc:
        error = f"worker: {type(exc).__name__}"
        return {item["key"]: {"compared": 0, "agreed": 0, "returned": 0, "error": error}
                for item in items}
    return results


def _read_pairs(out: Path) -> list[dict]:
    rows: list[dict] = []
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as fh:
                rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def check_pairs(out: Path, *, per_transform: int, seed: int = 0, workers: int = 3,
                max_modules: int | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Agreement rates by execution: up to ``per_transform`` checkable single-transform pairs
    per transform, and as many composed pairs (``workers`` sandboxed module batches at once;
    ``max_modules``: at most that many modules, chosen at random, to bound the time).

    Returns ``{"by_transform": {name: {"checked", "agreed", "agreement", "agreed_strict",
    "agreement_strict", "inputs_compared", "tried"}}, "composed": {...}, "examples": [...]}``:
    ``agreement`` counts a pair as agreeing when the de-optimised side returns the same on
    every input on which the original returns normally; ``agreement_strict`` also asks for
    the same exception type on every other input."""
    rng = random.Random(f"behaviour:{seed}")
    groups: dict[str, list[dict]] = defaultdict(list)
    for pair in _read_pairs(out):
        if checkable(pair):
            names = pair["transforms"]
            groups[names[0] if len(names) == 1 else "composed"].append(pair)
    chosen: list[tuple[str, dict]] = []
    for group, pairs in sorted(groups.items()):
        rng.shuffle(pairs)
        chosen += [(group, p) for p in pairs[:per_transform * 2]]
    by_module: dict[str, list[tuple[str, dict, dict]]] = defaultdict(list)
    for group, pair in chosen:
        module = module_name(pair["path"], pair["package"])
        if module is None:
            continue
        entry = ast.parse(pair["fast_code"]).body[0].name
        item = {"key": pair["id"], "entry": entry, "fast": pair["fast_code"],
                "slow": pair["slow_code"],
                "inputs": fuzz_inputs(pair["fast_code"], random.Random(pair["id"]))}
        by_module[module].append((group, pair, item))
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"checked": 0, "agreed": 0, "agreed_strict": 0, "inputs_compared": 0,
                 "tried": 0})
    examples: list[dict] = []
    # Modules of the fewest groups first would be ideal; a bounded shuffle keeps it simple.
    modules = sorted(by_module.items())
    rng.shuffle(modules)
    modules = modules[:max_modules] if max_modules else modules
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_module_batch, module, [item for _, _, item in entries]):
                   entries for module, entries in modules}
        for index, future in enumerate(as_completed(futures)):
            results = future.result()
            for group, pair, item in futures[future]:
                result = results.get(item["key"], {})
                stats[group]["tried"] += 1
                if not result.get("returned") or stats[group]["checked"] >= per_transform:
                    continue
                stats[group]["checked"] += 1
                stats[group]["inputs_compared"] += result["compared"]
                stats[group]["agreed_strict"] += result["agreed"] == result["compared"]
                if result["agreed_returning"] == result["returned"]:
                    stats[group]["agreed"] += 1
                if result["agreed"] != result["compared"] and len(examples) < 60:
                    examples.append({"id": pair["id"], "transforms": pair["transforms"],
                                     "on_returning_inputs": result["agreed_returning"]
                                     == result["returned"],
                                     "disagreements": result.get("disagreements", [])})
            if index % 20 == 0:
                log(f"behaviour: {index}/{len(futures)} modules")
    for entry in stats.values():
        checked = entry["checked"]
        entry["agreement"] = round(entry["agreed"] / checked, 4) if checked else None
        entry["agreement_strict"] = round(entry["agreed_strict"] / checked, 4) \
            if checked else None
    composed = stats.pop("composed", None)
    return {"by_transform": dict(sorted(stats.items())), "composed": composed,
            "examples": examples}


def drop_transforms(out: Path, names: Iterable[str]) -> dict[str, int]:
    """Remove from the split files every pair that used one of ``names``; rows left per split."""
    banned = set(names)
    left = {}
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as fh:
            rows = [line for line in fh if line.strip()
                    and not banned & set(json.loads(line)["transforms"])]
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(rows), encoding="utf-8")
        tmp.replace(path)
        left[split] = len(rows)
    return left
