"""What travels to a lent accelerator and what comes back from it (``scripts/device_train.sh``).

A device run takes the repository plus at most 64 MiB of carried files, and returns at most
8 files of at most 16 MiB each, 64 MiB together. So:

- ``data``: the training rows the run needs, only their ``slow``/``fast``/``prompt_prefix``
  and ``edit_sites`` fields, gzipped, in a seeded order, cut where the compressed files would
  pass ``--max-mib`` (the rows kept are a uniform sample, and the report says how many);
- ``pack`` (on the device): a checkpoint's weights in fp16 split into parts of at most
  ``--part-mib``, and its small files (config, tokenizer, training metadata) in one archive,
  with a manifest holding the digest of the whole; refused, with the sizes, when it would not
  come back whole (choose a smaller ``--from-config`` size);
- ``unpack`` (here): the parts put together, the digest checked, weights back in fp32: a
  checkpoint directory ``perfrl-train export`` and ``--base`` take.

Nothing here runs candidate code or reads beyond the paths it is given.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import sys
import tarfile
from pathlib import Path

from .errors import PerfRLError
from .examples import EDIT_SITES_FIELD, ExampleFormatError, read_examples

#: What one device run may return (the device tool's limits).
MAX_FILES_BACK = 8
MAX_FILE_MIB = 16
MAX_TOTAL_MIB = 64
WEIGHTS = "model.safetensors"
PART_PREFIX = "weights.fp16.part"
SMALL_FILES = "checkpoint_files.tar.gz"
MANIFEST = "bundle_manifest.json"
#: Row fields SFT reads (examples.read_examples); everything else stays behind.
ROW_FIELDS = ("slow", "fast", "prompt_prefix", EDIT_SITES_FIELD)
_MIB = 1 << 20


class BundleError(PerfRLError):
    """A bundle cannot be made or read back."""


# --- data -----------------------------------------------------------------------------------


def _rows(paths: list[Path]) -> list[str]:
    """The rows of ``paths`` as SFT reads them (its own reader and checks), trimmed to the
    fields it uses."""
    out = []
    for path in paths:
        try:
            examples = read_examples(path)
        except ExampleFormatError as exc:
            raise BundleError(str(exc)) from exc
        out += [json.dumps({k: ex.row[k] for k in ROW_FIELDS if k in ex.row})
                for ex in examples]
    return out


def _write_capped(rows: list[str], path: Path, max_bytes: int) -> int:
    """Rows into a gzip file until it would pass ``max_bytes``; returns how many went in."""
    written = 0
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for row in rows:
            # The compressed size is only known after a flush; flushing every row would cost
            # ratio, so the check runs every 256 rows with a margin of one block of them.
            if written % 256 == 0 and written:
                gz.flush()
                if raw.tell() > max_bytes * 0.97:
                    break
            gz.write(row.encode() + b"\n")
            written += 1
    return written


def pack_data(train: list[Path], valid: list[Path], out: Path, max_mib: float,
              seed: int = 0) -> dict:
    """``out/train.jsonl.gz`` and ``out/valid.jsonl.gz`` (see the module doc); the report."""
    out.mkdir(parents=True, exist_ok=True)
    train_rows, valid_rows = _rows(train), _rows(valid)
    rng = random.Random(seed)
    rng.shuffle(train_rows)
    valid_rows = valid_rows[:2000]  # the run evaluates a few hundred
    budget = int(max_mib * _MIB)
    valid_kept = _write_capped(valid_rows, out / "valid.jsonl.gz", budget)
    left = budget - (out / "valid.jsonl.gz").stat().st_size
    if left <= 0:
        raise BundleError(f"--max-mib {max_mib} leaves no room for training rows")
    train_kept = _write_capped(train_rows, out / "train.jsonl.gz", left)
    return {"train_rows": len(train_rows), "train_kept": train_kept,
            "valid_rows": len(valid_rows), "valid_kept": valid_kept,
            "mib": round(sum(p.stat().st_size for p in out.glob("*.gz")) / _MIB, 2)}


# --- checkpoint -----------------------------------------------------------------------------


def pack_checkpoint(checkpoint: Path, out: Path, part_mib: float = 15.0) -> list[Path]:
    """The files a device run returns for ``checkpoint`` (see the module doc)."""
    import torch
    from safetensors.torch import load_file, save

    weights = checkpoint / WEIGHTS
    if not weights.is_file():
        raise BundleError(f"{checkpoint} holds no {WEIGHTS}: the training wrote no checkpoint")
    tensors = {name: t.to(torch.float16) if t.is_floating_point() else t
               for name, t in load_file(str(weights)).items()}
    blob = save(tensors)
    part = int(part_mib * _MIB)
    parts = [blob[i:i + part] for i in range(0, len(blob), part)]
    small = sorted(p for p in checkpoint.iterdir()
                   if p.is_file() and p.name not in (WEIGHTS, "training_state.pt"))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for path in small:
            tar.add(path, arcname=path.name)
        manifest = json.dumps({"sha256": hashlib.sha256(blob).hexdigest(),
                               "parts": len(parts), "bytes": len(blob)}).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    sizes = [len(p) for p in parts] + [archive.tell()]
    if (len(sizes) > MAX_FILES_BACK - 2 or max(sizes) > MAX_FILE_MIB * _MIB
            or sum(sizes) > (MAX_TOTAL_MIB - 2) * _MIB):
        raise BundleError(
            f"the checkpoint would not come back whole: {len(sizes)} files, "
            f"{sum(sizes) / _MIB:.1f} MiB (at most {MAX_FILES_BACK - 2} files and "
            f"{MAX_TOTAL_MIB - 2} MiB, leaving room for the log); train a smaller size")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, data in enumerate(parts):
        path = out / f"{PART_PREFIX}{index:02d}"
        path.write_bytes(data)
        written.append(path)
    (out / SMALL_FILES).write_bytes(archive.getvalue())
    return [*written, out / SMALL_FILES]


def unpack_checkpoint(source: Path, out: Path) -> Path:
    """A checkpoint directory made of what :func:`pack_checkpoint` wrote to ``source``."""
    import torch
    from safetensors.torch import load, save_file

    archive = source / SMALL_FILES
    if not archive.is_file():
        raise BundleError(f"{source} holds no {SMALL_FILES}: not a packed checkpoint")
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile() and "/" not in m.name
                   and not m.name.startswith(".")]
        tar.extractall(out, members=members, filter="data")
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).unlink()
    paths = [source / f"{PART_PREFIX}{i:02d}" for i in range(manifest["parts"])]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise BundleError(f"{source} lacks {', '.join(missing)}: the run's files came back "
                          "incomplete")
    blob = b"".join(p.read_bytes() for p in paths)
    if hashlib.sha256(blob).hexdigest() != manifest["sha256"]:
        raise BundleError(f"the weights in {source} do not match their digest: a part is "
                          "damaged or from another run")
    tensors = {name: t.to(torch.float32) if t.is_floating_point() else t
               for name, t in load(blob).items()}
    save_file(tensors, str(out / WEIGHTS), metadata={"format": "pt"})
    return out


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="training rows to carry to the device")
    data.add_argument("--train", type=Path, nargs="+", required=True)
    data.add_argument("--valid", type=Path, nargs="+", required=True)
    data.add_argument("--out", type=Path, required=True)
    data.add_argument("--max-mib", type=float, default=24.0,
                      help="compressed size of the two files together (default 24)")
    data.add_argument("--seed", type=int, default=0)
    pack = commands.add_parser("pack", help="a checkpoint as files a device run returns")
    pack.add_argument("--checkpoint", type=Path, required=True)
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--part-mib", type=float, default=15.0)
    unpack = commands.add_parser("unpack", help="the returned files as a checkpoint")
    unpack.add_argument("--from", dest="source", type=Path, required=True)
    unpack.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "data":
            print(json.dumps(pack_data(args.train, args.valid, args.out, args.max_mib,
                                       args.seed)))
        elif args.command == "pack":
            for path in pack_checkpoint(args.checkpoint, args.out, args.part_mib):
                print(f"{path} {path.stat().st_size / _MIB:.1f} MiB")
        else:
            print(unpack_checkpoint(args.source, args.out))
    except BundleError as exc:
        print(f"device_bundle: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
