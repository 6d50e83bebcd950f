"""``perfrl-train``: build data, fine-tune, RRHF, export and evaluate the PerfRL model.

Sub-commands (each has ``--help``, generated from its dataclass config):

- ``data``   -> ``python -m perfrl_train.data.build`` (slow->fast pairs, train/valid/test.jsonl)
- ``sft``    -> :func:`perfrl_train.sft.train_sft`
- ``rrhf``   -> :func:`perfrl_train.rrhf.train_rrhf`
- ``export`` -> :func:`perfrl_train.export.export_model`
- ``eval``   -> :func:`perfrl_train.evaluate.evaluate`
- ``adapt``  -> :func:`perfrl_train.adapt.adapt_model` (fine-tune on a project's verified
  rewrites from its memory, plus a replay of the training data, and export)
- ``recover`` -> :func:`perfrl_train.recover.recover` (a training checkpoint rebuilt from an
  exported model, e.g. the shipped one, to train it further)

Exit status: 0 on success, 2 for a problem with the input (message on stderr), 130 when
``sft`` / ``rrhf`` stopped early on SIGTERM or SIGINT (after a whole step, checkpoint written:
the same command with ``--resume`` continues), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .train_common import add_config_arguments, config_from_args

#: Exit status of a training run stopped by a signal, its checkpoint written (128 + SIGINT).
INTERRUPTED = 130


def _configs() -> dict[str, tuple[object, str]]:
    """Sub-command -> (config class, one-line help); imported lazily where torch-free."""
    import importlib

    table = {
        "sft": ("sft", "SFTConfig", "supervised fine-tuning on slow->fast pairs"),
        "rrhf": ("rrhf", "RRHFConfig",
                 "RRHF: rank sampled rewrites by verified reward (the paper)"),
        "export": ("export", "ExportConfig", "export a checkpoint to ONNX (+int8), check parity"),
        "eval": ("evaluate", "EvalConfig", "evaluate models on held-out pairs and PIE programs"),
        "adapt": ("adapt", "AdaptConfig", "fine-tune a checkpoint on a project's verified "
                  "rewrites (its memory) plus a replay of the training data, and export it"),
        "recover": ("recover", "RecoverConfig", "rebuild a training checkpoint from an exported "
                    "model (int8 weights dequantized), to train it further"),
    }
    out = {}
    for command, (module, cls_name, help_text) in table.items():
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module}":
                raise
            continue  # that stage is not installed in this checkout
        out[command] = (getattr(mod, cls_name), help_text)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perfrl-train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = sub.add_parser("data", help="build the training data (perfrl_train.data.build)",
                          add_help=False)
    data.add_argument("rest", nargs=argparse.REMAINDER,
                      help="arguments for python -m perfrl_train.data.build (try data --help)")
    for name, (config_cls, help_text) in _configs().items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_config_arguments(p, config_cls)
    return parser


def _run_data(rest: list[str]) -> int:
    from .data import build

    return int(build.main(rest) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "data":
        return _run_data(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    config_cls, _ = _configs()[args.command]
    cfg = config_from_args(config_cls, args)
    try:
        if args.command == "sft":
            from .sft import train_sft

            sft = train_sft(cfg)
            print(f"checkpoint: {sft.out}")
            if sft.interrupted_by:
                return INTERRUPTED
        elif args.command == "rrhf":
            from .rrhf import train_rrhf

            rrhf = train_rrhf(cfg)
            print(f"checkpoint: {rrhf.out}")
            if rrhf.interrupted_by:
                return INTERRUPTED
        elif args.command == "export":
            from .export import export_model

            exported = export_model(cfg)
            print(f"model directory: {exported.out}")
            for role, path in sorted(exported.files.items()):
                print(f"  {role}: {path}")
        elif args.command == "eval":
            from .evaluate import evaluate

            evaluated = evaluate(cfg)
            print(f"report: {evaluated.json_path}\n        {evaluated.markdown_path}")
        elif args.command == "adapt":
            from .adapt import adapt_model

            adapted = adapt_model(cfg)
            print(f"model directory: {adapted.out} ({adapted.project_pairs} verified pair(s), "
                  f"{adapted.replayed_pairs} replayed)\n"
                  f"use it: perfrl optimize --model {adapted.out} (editor: perfrl.modelPath)")
        elif args.command == "recover":
            from .recover import recover

            count = recover(cfg.model, cfg.out)
            print(f"checkpoint: {cfg.out} ({count} weights from {cfg.model})\n"
                  f"train it further: perfrl-train sft --base {cfg.out} ...")
    except _user_errors() as exc:
        print(f"perfrl-train {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user (bad input), not a traceback: every
    :class:`~perfrl_train.errors.PerfRLError` and the model-directory contract's errors."""
    from perfrl.model_contract import ModelContractError

    from .errors import PerfRLError

    return (PerfRLError, ModelContractError)


if __name__ == "__main__":
    raise SystemExit(main())
