"""``perfrl-train adapt``: learn from a user's own code.

Fine-tunes a training checkpoint (from ``sft`` / ``rrhf``) on the rewrites verified faster on
one project (its memory, :func:`perfrl.memory.store.verified_pairs`), mixed with a random
replay sample of the original training pairs (``replay_per_pair`` of them for each project
pair) so that the model does not forget what it knew, then exports the result with
:func:`perfrl_train.export.export_model` (parity checked) into a model directory. Point the
server at it with ``perfrl optimize --model OUT`` or the editor setting ``perfrl.modelPath``.

Project pairs are read as the model reads its input: dedented, and with identifiers abstracted
(one table for both sides, as :mod:`perfrl_train.data.abstract` does) when the checkpoint was
trained that way (``--input-abstraction identifiers-v1`` or ``identifiers-v2``, also written
into the exported spec), with the names the server keeps as written for that model
(:mod:`perfrl_train.data.memory_form`: read from the function's module in ``--project``).

    perfrl-train adapt --checkpoint CKPT --project PATH/TO/PROJECT \\
        --replay-data DATA/train.jsonl --out MODEL_DIR
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PerfRLError
from .train_common import help_field


class AdaptError(PerfRLError):
    """Adaptation cannot start: no verified pairs, a missing checkpoint or data file."""


@dataclass
class AdaptConfig:
    checkpoint: Path = help_field(None, "training checkpoint to start from (sft / rrhf output)")  # noqa: RUF009
    out: Path = help_field(None, "model directory to write (must be empty or absent)")  # noqa: RUF009
    project: Path | None = help_field(None, "project whose memory of verified rewrites to "  # noqa: RUF009
                                            "learn from")
    memory_db: Path | None = help_field(None, "memory database to read instead of the "  # noqa: RUF009
                                              "project's (e.g. the user-wide user.sqlite)")
    replay_data: Path | None = help_field(None, "original training pairs JSONL to replay "  # noqa: RUF009
                                                "(recommended: without it the model forgets)")
    replay_per_pair: int = help_field(4, "replayed training pairs per project pair")
    min_pairs: int = help_field(1, "refuse to adapt on fewer verified pairs than this")
    work: Path | None = help_field(None, "where the adapted checkpoint and its data go "  # noqa: RUF009
                                         "(default: OUT-checkpoint next to OUT)")
    max_steps: int = help_field(60, "optimizer steps")
    batch_size: int = help_field(8, "pairs per optimizer step")
    lr: float = help_field(1e-4, "peak learning rate (small: adapt, do not retrain)")
    warmup_steps: int = help_field(5, "linear warm-up steps")
    max_source_length: int = help_field(512, "prompt tokens kept")
    max_target_length: int = help_field(256, "target tokens kept")
    input_abstraction: str = help_field("none", "what the checkpoint was trained on: 'none', "
                                                "'identifiers-v1' or 'identifiers-v2'")
    quantize: bool = help_field(True, "int8 quantization of the exported model (what ships)")
    parity_prompts: int = help_field(8, "functions used for the export's parity check")
    seed: int = help_field(0, "seed for the replay sample and training")
    threads: int = help_field(2, "torch / onnxruntime threads")
    progress: bool = help_field(False, "show a progress bar while training")


@dataclass
class AdaptResult:
    out: Path
    checkpoint: Path
    project_pairs: int
    replayed_pairs: int
    train_file: Path
    files: dict[str, Path] = field(default_factory=dict)


def memory_rows(db: Path, input_abstraction: str = "none",
                project: Path | None = None) -> list[dict]:
    """The verified-faster pairs of one memory database as training rows (``id``, ``slow``,
    ``fast``, ``origin``, ``meta``), dedented, abstracted when the model reads placeholders
    (the names it reads as written kept, see the module doc; ``project``: where the
    functions' modules are); pairs that cannot be abstracted are left out."""
    from perfrl.memory.store import verified_pairs

    from .data.memory_form import dedented, in_model_form

    rows = []
    for i, (original, rewrite, function) in enumerate(verified_pairs(db)):
        read = in_model_form(original, input_abstraction, project, function)
        if read is None:
            continue  # a pair the model could not read is no lesson for it
        slow, table = read
        fast = table.extend(dedented(rewrite)) if table is not None else dedented(rewrite)
        rows.append({"id": f"memory-{i}", "slow": slow, "fast": fast, "origin": "memory",
                     "meta": {"function": function}})
    return rows


def _replay_rows(path: Path, k: int, seed: int) -> list[dict]:
    from .examples import read_examples

    examples = read_examples(path)
    rng = random.Random(seed)
    chosen = rng.sample(examples, min(k, len(examples)))
    return [{"id": ex.id, "slow": ex.slow, "fast": ex.fast, "origin": "replay"} for ex in chosen]


def adapt_model(cfg: AdaptConfig, log=print) -> AdaptResult:
    """Fine-tune, export and check as configured; see the module docstring. Raises
    AdaptError (and the trainer's and exporter's own errors) with a message for the user."""
    from perfrl.memory.store import project_db
    from perfrl.model_contract import INPUT_ABSTRACTIONS

    from .export import ExportConfig, export_model
    from .sft import SFTConfig, train_sft

    if cfg.checkpoint is None or cfg.out is None:
        raise AdaptError("--checkpoint and --out are required")
    if not (Path(cfg.checkpoint) / "config.json").is_file():
        raise AdaptError(f"{cfg.checkpoint} is not a training checkpoint (no config.json); "
                         "give the output directory of `perfrl-train sft` or `rrhf`")
    if cfg.input_abstraction not in INPUT_ABSTRACTIONS:
        raise AdaptError(f"--input-abstraction must be one of {', '.join(INPUT_ABSTRACTIONS)}, "
                         f"not {cfg.input_abstraction!r}")
    if cfg.memory_db is not None:
        db = Path(cfg.memory_db)
    elif cfg.project is not None:
        db = project_db(Path(cfg.project).resolve())
    else:
        raise AdaptError("give --project (the project whose memory to learn from) or "
                         "--memory-db")
    if not db.is_file():
        raise AdaptError(f"no memory at {db}: run `perfrl optimize` on the project first "
                         "(every verified rewrite is remembered)")
    rows = memory_rows(db, cfg.input_abstraction,
                       Path(cfg.project).resolve() if cfg.project is not None else None)
    if len(rows) < max(1, cfg.min_pairs):
        raise AdaptError(f"{db} holds {len(rows)} verified rewrite(s); at least "
                         f"{max(1, cfg.min_pairs)} are needed to adapt")
    replay: list[dict] = []
    if cfg.replay_data is not None:
        replay = _replay_rows(Path(cfg.replay_data), cfg.replay_per_pair * len(rows), cfg.seed)
    else:
        log("adapt: no --replay-data: the model may forget what it knew")
    out = Path(cfg.out)
    work = Path(cfg.work) if cfg.work else out.with_name(out.name + "-checkpoint")
    work.mkdir(parents=True, exist_ok=True)
    train_file = work / "adapt_train.jsonl"
    with train_file.open("w", encoding="utf-8") as fh:
        for row in [*rows, *replay]:
            fh.write(json.dumps(row, sort_keys=True) + "\n")
    log(f"adapt: {len(rows)} verified pair(s) from {db}, {len(replay)} replayed")
    ckpt = work / "checkpoint"
    train_sft(SFTConfig(out=ckpt, train_file=train_file, base=str(cfg.checkpoint),
                        max_steps=cfg.max_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                        warmup_steps=cfg.warmup_steps, eval_every=0,
                        max_source_length=cfg.max_source_length,
                        max_target_length=cfg.max_target_length, seed=cfg.seed,
                        threads=cfg.threads, bf16=False, progress=cfg.progress), log=log)
    exported = export_model(ExportConfig(checkpoint=ckpt, out=out, quantize=cfg.quantize,
                                         parity_prompts=cfg.parity_prompts,
                                         input_abstraction=cfg.input_abstraction,
                                         threads=cfg.threads), log=log)
    log(f"adapt: point the server at {out}: perfrl optimize --model {out}, or the editor "
        "setting perfrl.modelPath")
    return AdaptResult(out=exported.out, checkpoint=ckpt, project_pairs=len(rows),
                       replayed_pairs=len(replay), train_file=train_file,
                       files=exported.files)
