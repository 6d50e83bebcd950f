"""Real Python functions mined from the standard library and installed packages, with their
package and licence, in the form the model reads.

``python -m perfrl_train.data.corpus --out CORPUS.jsonl`` walks the standard library and the
``site-packages`` of the running interpreter (test folders and generated code skipped), keeps
files whose distribution declares a permissive licence (the standard library counts as PSF),
and writes one JSON row per function of 3 to 60 lines:

``{"id", "package", "licence", "path", "qualname", "code", "abstract", "kept"}`` where
``code`` is the dedented function as written, ``abstract`` its ``identifiers-v2`` form
(:func:`perfrl.sources.abstraction.model_input` with the module-scope names it reads kept,
exactly what the server gives a v2 model) and ``kept`` those names.

A caller may rely on:

- no two rows sharing a normalised abstract form (:func:`normalised_key`: the abstracted AST
  without docstrings), so layout-only copies and renamed copies count once;
- every row's ``package`` being one of the names :func:`package_split` assigns to exactly one
  side, ``train`` or ``eval``, the same on every machine (a hash of the name), so that pairs
  built from ``eval`` packages never share a package with training;
- no row from a package in :data:`HELD_OUT_PACKAGES` (the realistic held-out set's libraries)
  or whose normalised form equals a held-out function's (``--exclude-dir``).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
import sysconfig
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from perfrl.sources.abstraction import model_input, module_names_used

#: Libraries of the realistic held-out set (benchmarks/heldout): never mined, even when installed.
HELD_OUT_PACKAGES = frozenset({"boltons", "inflection", "tabulate", "perfrl", "perfrl_train"})
MIN_LINES, MAX_LINES = 3, 60
#: Licences whose code may be used to train a model that ships (a match in the metadata text).
_PERMISSIVE = re.compile(
    r"\b(MIT|BSD|Apache|PSF|Python Software Foundation|ISC|Unlicense|Zlib|HPND|0BSD|CC0|"
    r"Historical Permission)\b",
    re.IGNORECASE,
)
_COPYLEFT = re.compile(r"\b(GPL|LGPL|AGPL|MPL|EUPL|Mozilla|General Public)\b", re.IGNORECASE)
_SKIPPED_PARTS = frozenset({"tests", "test", "testing", "idlelib", "lib2to3", "site-packages",
                            "__pycache__", "turtledemo", "ensurepip", "_vendor", "vendored"})
EVAL_SHARE = 0.1


@dataclass(frozen=True)
class MinedFunction:
    id: str
    package: str
    licence: str
    path: str
    qualname: str
    code: str
    abstract: str
    kept: list[str]


def package_split(package: str) -> str:
    """``"train"`` or ``"eval"`` for a package, fixed by a hash of its name (about
    :data:`EVAL_SHARE` of packages go to eval). Standard-library modules are packages of their
    own (``stdlib:json``), so the split never mixes one module across the two sides."""
    digest = hashlib.sha256(package.encode()).digest()
    return "eval" if digest[0] < 256 * EVAL_SHARE else "train"


def licence_of(dist: metadata.Distribution) -> str | None:
    """The distribution's licence as its metadata states it, when it is permissive; else None."""
    meta = dist.metadata
    texts = [_field(meta, "License-Expression"), _field(meta, "License")[:200]]
    texts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    text = " ".join(t for t in texts if t)
    if not text or _COPYLEFT.search(text) or not _PERMISSIVE.search(text):
        return None
    match = _PERMISSIVE.search(text)
    return match.group(0) if match else None


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    return (meta[name] or "") if name in meta else ""


def _site_packages_files() -> Iterator[tuple[Path, str, str]]:
    """(file, package, licence) for every ``.py`` file of a permissively licensed distribution."""
    for dist in metadata.distributions():
        name = _field(dist.metadata, "Name").lower().replace("-", "_")
        if not name or name in HELD_OUT_PACKAGES:
            continue
        licence = licence_of(dist)
        if licence is None:
            continue
        for entry in dist.files or []:
            if entry.suffix != ".py" or set(entry.parts) & _SKIPPED_PARTS:
                continue
            if any(part.startswith("test") for part in entry.parts[:-1]):
                continue
            yield Path(str(entry.locate())), f"pypi:{name}", licence


def _stdlib_files() -> Iterator[tuple[Path, str, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if set(parts) & _SKIPPED_PARTS or any(p.startswith("test") for p in parts):
            continue
        yield path, f"stdlib:{parts[0].removesuffix('.py')}", "PSF"


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Module functions and methods of module-level classes, with their qualified names."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_key(abstract_code: str) -> str | None:
    """A digest of the abstracted function's AST without docstrings (None: does not parse)."""
    try:
        tree = _strip_docstrings(ast.parse(abstract_code))
    except (SyntaxError, ValueError):
        return None
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def mine_file(path: Path, package: str, licence: str, root_label: str) -> Iterator[MinedFunction]:
    """The functions of one file that fit (length, abstraction); nothing when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, OSError, ValueError, RecursionError):
        return
    lines = text.splitlines()
    for qualname, node in _functions(tree):
        # Decorators are left out: the server gives the model the def and its body.
        end = node.end_lineno or node.lineno
        if not MIN_LINES <= end - node.lineno + 1 <= MAX_LINES:
            continue
        code = textwrap.dedent("\n".join(lines[node.lineno - 1:end])) + "\n"
        kept = module_names_used(tree, code)
        try:
            abstract, _ = model_input(code, "identifiers-v2", kept)
        except ValueError:
            continue
        yield MinedFunction(
            id=f"{package}:{root_label}:{qualname}:{node.lineno}", package=package,
            licence=licence, path=root_label, qualname=qualname, code=code,
            abstract=abstract, kept=sorted(kept),
        )


def held_out_keys(dirs: Iterable[Path]) -> set[str]:
    """Normalised keys of every function in the held-out folders (exact near-duplicates)."""
    keys: set[str] = set()
    for folder in dirs:
        for path in sorted(Path(folder).rglob("*.py")):
            for fn in mine_file(path, "held-out", "-", str(path)):
                key = normalised_key(fn.abstract)
                if key:
                    keys.add(key)
    return keys


def mine(out: Path, *, max_per_package: int, exclude_dirs: Iterable[Path] = (),
         log=print) -> Counter[str]:
    """Write the corpus to ``out`` (JSON lines); returns the row count per split and licence."""
    excluded = held_out_keys(exclude_dirs)
    seen: set[str] = set(excluded)
    per_package: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    stdlib_root = Path(sysconfig.get_paths()["stdlib"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for index, (path, package, licence) in enumerate(
                [*_stdlib_files(), *_site_packages_files()]):
            if per_package[package] >= max_per_package:
                continue
            label = str(path.relative_to(stdlib_root)) if path.is_relative_to(stdlib_root) \
                else "/".join(path.parts[-3:])
            for fn in mine_file(path, package, licence, label):
                key = normalised_key(fn.abstract)
                if key is None or key in seen:
                    counts["duplicate_or_held_out" if key else "unparsable"] += 1
                    continue
                seen.add(key)
                per_package[package] += 1
                counts[f"split:{package_split(package)}"] += 1
                counts[f"licence:{licence}"] += 1
                fh.write(json.dumps(asdict(fn)) + "\n")
                if per_package[package] >= max_per_package:
                    break
            if index % 2000 == 0:
                log(f"corpus: {index} files, {sum(per_package.values())} functions")
    counts["packages"] = len(per_package)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--max-per-package", type=int, default=6000,
                        help="at most N functions from one package (balance: torch is huge)")
    parser.add_argument("--exclude-dir", type=Path, action="append", default=[],
                        help="folder of held-out code: its functions' normalised forms are "
                             "never mined (repeatable; e.g. benchmarks/heldout)")
    args = parser.parse_args(argv)
    counts = mine(args.out, max_per_package=args.max_per_package,
                  exclude_dirs=args.exclude_dir, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(dict(sorted(counts.items())), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
