"""Does an edit model read its input? Diagnostics for an "edit-v1" training checkpoint.

Three figures, all from real-code evaluation pairs (packages the model did not train on) and
the model's own training rows, no verifier involved:

- *input gap*: teacher-forced loss on the first 64 training rows with their own input, and
  with the next row's input. A model that copies from its input loses far more without it;
- *header*: greedy outputs on single-hunk evaluation pairs of at most ``--max-lines`` lines
  whose first line is the right ``@A-B`` (the model found the lines to change);
- *content given the header*: the right header forced, outputs equal to the wanted script
  (exact) and outputs whose script applies and parses.

``--pointer-steps N`` first trains a copy mechanism for N steps (a pointer-generator: a gate on
the decoder's last hidden state mixes the vocabulary distribution with the last layer's
cross-attention scattered onto the input's token ids), the experiment of the fourth session;
the product's version of it is ``perfrl-train sft --copy-head`` (``perfrl_train/copy_head.py``,
exported and served), and a checkpoint trained with it is measured here as it is.

    python benchmarks/bench_edit_reading.py --checkpoint CKPT --train EDIT/train.jsonl \\
        --eval PAIRS/eval.jsonl [--pointer-steps 300]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
from pathlib import Path

import torch
from bench_copy_bias import evaluation_rows

from perfrl.edit_script import EditScriptError, apply_edit_script, make_edit_script
from perfrl_train.checkpoint import load_checkpoint
from perfrl_train.examples import encode_source, read_examples
from perfrl_train.sft import LABEL_PAD, encode_examples, make_batch

EOS = 2


class PointerHead(torch.nn.Module):
    """The copy mechanism added to a T5 for ``--pointer-steps``."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.gate = torch.nn.Linear(model.config.d_model, 1)

    def log_probs(self, input_ids, attention_mask, decoder_input_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                         decoder_input_ids=decoder_input_ids, output_attentions=True,
                         output_hidden_states=True, return_dict=True)
        attention = out.cross_attentions[-1].mean(1)  # (batch, target, source)
        gate = torch.sigmoid(self.gate(out.decoder_hidden_states[-1]))
        generated = torch.softmax(out.logits.float(), -1)
        index = input_ids.unsqueeze(1).expand(-1, generated.size(1), -1)
        copied = torch.zeros_like(generated).scatter_add(2, index, attention)
        return torch.log(gate * generated + (1 - gate) * copied + 1e-9)


class PlainHead(torch.nn.Module):
    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def log_probs(self, input_ids, attention_mask, decoder_input_ids):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            decoder_input_ids=decoder_input_ids).logits
        return torch.log_softmax(logits.float(), -1)


def token_loss(head, batch) -> torch.Tensor:
    labels = batch["labels"]
    decoder_input_ids = head.model._shift_right(labels)
    log_probs = head.log_probs(batch["input_ids"], batch["attention_mask"], decoder_input_ids)
    return torch.nn.functional.nll_loss(log_probs.view(-1, log_probs.size(-1)),
                                        labels.view(-1), ignore_index=LABEL_PAD)


def mean_loss(head, sources, targets) -> float:
    total = count = 0.0
    for start in range(0, len(sources), 16):
        batch = make_batch(sources[start:start + 16], targets[start:start + 16], 0)
        with torch.no_grad():
            loss = float(token_loss(head, batch))
        tokens = int((batch["labels"] != LABEL_PAD).sum())
        total, count = total + loss * tokens, count + tokens
    return total / count


def greedy(head, ids: list[int], forced: list[int], max_new: int = 96) -> list[int]:
    """Greedy tokens after ``forced`` (no cache: outputs are short)."""
    source = torch.tensor([ids])
    decoded = [0, *forced]
    for _ in range(max_new):
        with torch.no_grad():
            log_probs = head.log_probs(source, torch.ones_like(source), torch.tensor([decoded]))
        token = int(log_probs[0, -1].argmax())
        if token == EOS:
            break
        decoded.append(token)
    return decoded[1:]


def train_pointer(head, sources, targets, steps: int, log) -> None:
    optimizer = torch.optim.AdamW(head.parameters(), lr=3e-4, weight_decay=0.01)
    order = list(range(len(sources)))
    random.Random(1).shuffle(order)
    head.train()
    for step in range(steps):
        chosen = [order[(step * 16 + k) % len(order)] for k in range(16)]
        batch = make_batch([sources[i] for i in chosen], [targets[i] for i in chosen], 0)
        loss = token_loss(head, batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        optimizer.step()
        if step % 25 == 0:
            log(f"pointer step {step}: loss {float(loss.detach()):.3f}")
    head.eval()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--train", type=Path, required=True, help="the edit training rows")
    parser.add_argument("--eval", type=Path, required=True, help="real-code evaluation pairs")
    parser.add_argument("--max-lines", type=int, default=15)
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--pointer-steps", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    model, tokenizer, _ = load_checkpoint(args.checkpoint)
    sources, targets = encode_examples(tokenizer, read_examples(args.train), 192, 96, "edit-v1")
    head = PointerHead(model) if args.pointer_steps else PlainHead(model)
    if args.pointer_steps:
        train_pointer(head, sources, targets, args.pointer_steps, log)
    head.eval()
    figures: dict = {
        "loss_own_input": round(mean_loss(head, sources[:64], targets[:64]), 3),
        "loss_other_input": round(mean_loss(head, sources[1:65], targets[:64]), 3),
    }
    counts = {"pairs": 0, "right_header": 0, "exact_given_header": 0, "parses_given_header": 0}
    for row in evaluation_rows(args.eval, args.max_lines, args.limit):
        wanted = make_edit_script(row["slow"], row["fast"]).strip()
        header = wanted.split("\n", 1)[0]
        ids = encode_source(tokenizer, row["slow"], 192, output_format="edit-v1")
        free = tokenizer.decode(greedy(head, ids, []), skip_special_tokens=True)
        # The header without its newline: the tokenizer merges a newline with the indentation
        # after it, so this is where the training targets' tokens split.
        forced = tokenizer(header, add_special_tokens=False)["input_ids"]
        given = tokenizer.decode(greedy(head, ids, forced), skip_special_tokens=True)
        counts["pairs"] += 1
        counts["right_header"] += free.split("\n", 1)[0] == header
        counts["exact_given_header"] += given.strip() == wanted
        try:
            ast.parse(apply_edit_script(row["slow"], given))
            counts["parses_given_header"] += 1
        except (EditScriptError, SyntaxError):
            pass
    print(json.dumps({**figures, **counts, "pointer_steps": args.pointer_steps}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
