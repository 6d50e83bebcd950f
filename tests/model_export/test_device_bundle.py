"""The accelerator path: the bundle that travels, the one command that trains there
(scripts/device_train.sh, run here on the CPU with a tiny model) and what comes back."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from perfrl_train import device_bundle
from perfrl_train.device_bundle import BundleError, pack_checkpoint, pack_data, unpack_checkpoint
from perfrl_train.testing import tiny_checkpoint, tiny_pairs_dir

pytestmark = pytest.mark.train

REPO = Path(__file__).resolve().parents[2]


def _write_rows(path: Path, count: int) -> Path:
    rows = [{"slow": f"def f(x):\n    y = x + {i}\n    return y\n",
             "fast": f"def f(x):\n    return x + {i}\n", "meta": {"big": "z" * 200},
             "id": str(i)} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read_gz(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.open(path, "rt")]


def test_data_keeps_only_what_training_reads_within_the_size_asked(tmp_path):
    train = _write_rows(tmp_path / "train.jsonl", 20000)
    valid = _write_rows(tmp_path / "valid.jsonl", 50)
    report = pack_data([train], [valid], tmp_path / "bundle", max_mib=0.05)
    rows = _read_gz(tmp_path / "bundle" / "train.jsonl.gz")
    assert set(rows[0]) == {"slow", "fast"}  # meta and id stay behind
    assert 0 < report["train_kept"] == len(rows) < 20000
    assert report["valid_kept"] == len(_read_gz(tmp_path / "bundle" / "valid.jsonl.gz")) == 50
    size = sum(p.stat().st_size for p in (tmp_path / "bundle").glob("*.gz"))
    assert size <= 0.05 * (1 << 20) * 1.05
    # A seeded shuffle: not the first rows of the file.
    assert [r["fast"] for r in rows[:3]] != [f"def f(x):\n    return x + {i}\n" for i in range(3)]


def test_rows_marked_for_sites_keep_the_mark(tmp_path):
    # An edit row whose script grows to the server's sites (mix --edit-sites) must train the
    # same way on the device.
    row = {"slow": "def f(x):\n    return x\n", "fast": "def f(x):\n    return +x\n",
           "edit_sites": True, "id": "a"}
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(row) + "\n")
    pack_data([train], [train], tmp_path / "bundle", max_mib=1)
    assert _read_gz(tmp_path / "bundle" / "train.jsonl.gz") == [
        {"slow": row["slow"], "fast": row["fast"], "edit_sites": True}]


def test_a_row_without_its_fields_is_refused_with_its_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"slow": "def f(): pass"}\n')
    with pytest.raises(BundleError, match=r"bad.jsonl:1: a row needs"):
        pack_data([bad], [bad], tmp_path / "bundle", max_mib=1)


def test_a_checkpoint_comes_back_whole_in_parts_and_loads(tiny_work, tmp_path):
    import torch

    from perfrl_train.checkpoint import load_checkpoint

    ckpt = tiny_checkpoint(tiny_work)
    files = pack_checkpoint(ckpt, tmp_path / "back", part_mib=0.4)
    assert len(files) >= 3 and all(f.stat().st_size <= 0.4 * (1 << 20) for f in files[:-1])
    restored = unpack_checkpoint(tmp_path / "back", tmp_path / "ckpt")
    original, tokenizer, meta = load_checkpoint(ckpt)
    model, tokenizer_back, meta_back = load_checkpoint(restored)
    assert meta_back == meta and tokenizer_back.get_vocab() == tokenizer.get_vocab()
    for (name, weight), (_, back) in zip(original.state_dict().items(),
                                         model.state_dict().items(), strict=True):
        torch.testing.assert_close(back, weight, rtol=1e-3, atol=1e-3, msg=name)
    # A damaged part is caught by the digest, not loaded.
    part = tmp_path / "back" / f"{device_bundle.PART_PREFIX}00"
    data = bytearray(part.read_bytes())
    data[-1] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="digest"):
        unpack_checkpoint(tmp_path / "back", tmp_path / "ckpt2")


def test_a_checkpoint_too_large_to_come_back_is_refused_before_anything_is_written(
        tiny_work, tmp_path, monkeypatch):
    monkeypatch.setattr(device_bundle, "MAX_TOTAL_MIB", 2.1)  # 0.1 MiB for the checkpoint
    with pytest.raises(BundleError, match="would not come back whole"):
        pack_checkpoint(tiny_checkpoint(tiny_work), tmp_path / "back")
    assert not (tmp_path / "back").exists()


@pytest.mark.slow
def test_the_device_command_trains_and_returns_a_checkpoint_on_the_cpu(tiny_work, tmp_path):
    """scripts/device_train.sh as a lent machine runs it, on the CPU with the tiny size and
    two steps: what it leaves in $OUT unpacks into a checkpoint that loads and generates."""
    from perfrl_train.checkpoint import load_checkpoint

    pairs = tiny_pairs_dir(tiny_work / "tiny-data")
    bundle = tmp_path / "bundle"
    pack_data([pairs / "train.jsonl"], [pairs / "valid.jsonl"], bundle / "data", max_mib=1)
    shutil.copytree(tiny_checkpoint(tiny_work), bundle / "tokenizer")
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PERFRL_BUNDLE": str(bundle),
           "PERFRL_DEVICE_SIZE": "tiny", "PERFRL_DEVICE_STEPS": "2", "PERFRL_DEVICE_BATCH": "4",
           "PERFRL_DEVICE_ARGS": "--cpu --max-source-length 128 --max-target-length 96",
           "CUDA_VISIBLE_DEVICES": "",
           # python3 in the script is this test's interpreter, as on the device its image's.
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(REPO / "scripts" / "device_train.sh")], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:] + (out / "train.log").read_text()[-3000:]
    returned = sorted(p.name for p in out.iterdir())
    assert len(returned) <= device_bundle.MAX_FILES_BACK, returned
    assert "train.log" in returned and device_bundle.SMALL_FILES in returned
    model, tokenizer, meta = load_checkpoint(unpack_checkpoint(out, tmp_path / "ckpt"))
    assert meta["step"] == 2
    ids = tokenizer("def f(x):\n    return x\n", return_tensors="pt").input_ids
    assert model.generate(ids, max_new_tokens=4).shape[1] >= 2


def test_the_device_command_says_what_is_missing(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PERFRL_BUNDLE": str(tmp_path / "none")}
    run = subprocess.run(["bash", str(REPO / "scripts" / "device_train.sh")], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2 and "prepare the bundle first" in run.stderr
