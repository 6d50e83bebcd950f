"""An exported T5-style model run with onnxruntime and our own numpy decoding loop.

No torch, no transformers: the model directory follows :mod:`server.model_contract` (an
encoder, a first-step decoder and a decoder with past keys and values, as optimum's
``text2text-generation-with-past`` export writes them, plus a ``tokenizers`` file).

A caller may rely on:

- :meth:`OnnxSeq2SeqModel.load` either returning a usable model or raising
  :class:`ModelLoadError` whose message names the directory and the bad piece (missing spec
  or file, unreadable ONNX file, inputs/outputs that are not a seq2seq export, tokenizer
  problems);
- :meth:`OnnxSeq2SeqModel.generate` being safe to call from several threads at once (all
  decoding state is per call) and reproducible for a given ``seed``;
- one encoder pass per call, whatever the number of sequences asked for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.engine.types import PerfRLError
from server.inference.decoding import Decoded, SamplingParams, beam_search, sample_or_greedy
from server.model_contract import ModelContractError, ModelSpec, build_prompt, load_model_spec

_PAST_INPUT = re.compile(r"past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$")
_PRESENT_OUTPUT = re.compile(r"present\.(\d+)\.(decoder|encoder)\.(key|value)$")
_THREADS_ENV = "PERFRL_ORT_THREADS"


class ModelLoadError(PerfRLError):
    """The model directory cannot be used; the message says which piece and why."""


@dataclass(frozen=True)
class GeneratedSequence:
    """One output. ``token_ids`` exclude the decoder start token and end with the
    end-of-sequence id when ``finished``; ``score`` is the mean log-probability per generated
    token (beam search: Hugging Face's length-normalised sequence score)."""

    text: str
    token_ids: list[int]
    score: float
    finished: bool = True


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    truncated: bool


def default_threads() -> int:
    """Intra-op threads: ``$PERFRL_ORT_THREADS`` or 2 (1 on a single core).

    More threads barely help a model this small and hurt when the machine is busy.
    """
    configured = os.environ.get(_THREADS_ENV, "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            pass
    return max(1, min(2, os.cpu_count() or 1))


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads collapse when other processes compete for the cores (measured:
    # 6.2 ms -> 3.3 ms per token on a loaded 2-core machine with spinning off).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise ModelLoadError(
            f"cannot load {path}: {type(exc).__name__}: {str(exc).strip()[:300]} "
            "(the file may be truncated or corrupt; export the model again)"
        ) from exc


def _names(items) -> list[str]:
    return [item.name for item in items]


class _Sessions:
    """The three sessions with their input/output names checked once at load time."""

    def __init__(self, model_dir: Path, spec: ModelSpec, threads: int) -> None:
        self.encoder = _session(model_dir / spec.encoder_file, threads)
        self.decoder = _session(model_dir / spec.decoder_file, threads)
        self.decoder_past = _session(model_dir / spec.decoder_with_past_file, threads)
        self._check(model_dir, spec)

    def _check(self, model_dir: Path, spec: ModelSpec) -> None:
        def need(names: list[str], wanted: set[str], what: str) -> None:
            missing = wanted - set(names)
            if missing:
                raise ModelLoadError(
                    f"{model_dir / what} is not an encoder-decoder export "
                    f"(text2text-generation-with-past): it lacks {sorted(missing)}; "
                    f"it has {names}"
                )

        enc_in, enc_out = _names(self.encoder.get_inputs()), _names(self.encoder.get_outputs())
        need(enc_in, {"input_ids", "attention_mask"}, spec.encoder_file)
        need(enc_out, {"last_hidden_state"}, spec.encoder_file)
        dec_in, dec_out = _names(self.decoder.get_inputs()), _names(self.decoder.get_outputs())
        need(
            dec_in,
            {"input_ids", "encoder_hidden_states", "encoder_attention_mask"},
            spec.decoder_file,
        )
        need(dec_out, {"logits"}, spec.decoder_file)
        past_in = _names(self.decoder_past.get_inputs())
        past_out = _names(self.decoder_past.get_outputs())
        need(past_in, {"input_ids", "encoder_attention_mask"}, spec.decoder_with_past_file)
        need(past_out, {"logits"}, spec.decoder_with_past_file)
        self.decoder_inputs = dec_in
        self.decoder_outputs = dec_out
        self.past_inputs = past_in
        self.past_outputs = past_out
        # Each past input of the with-past decoder is fed from the present output of the same
        # layer/kind: decoder self-attention entries from the latest step, encoder
        # (cross-attention) entries from the first step, which alone computes them.
        self.past_keys = [
            m.group(0)[len("past_key_values.") :] for m in map(_PAST_INPUT.match, past_in) if m
        ]
        present = {m.group(0)[len("present.") :] for m in map(_PRESENT_OUTPUT.match, dec_out) if m}
        if not self.past_keys:
            raise ModelLoadError(
                f"{model_dir / spec.decoder_with_past_file} takes no past_key_values inputs: "
                "export with task text2text-generation-with-past"
            )
        missing = sorted(set(self.past_keys) - present)
        if missing:
            raise ModelLoadError(
                f"{model_dir / spec.decoder_file} does not output present.{missing[0]} that "
                f"{spec.decoder_with_past_file} needs: the two decoder files do not match"
            )
        layers = len({key.split(".")[0] for key in self.past_keys})
        if layers != spec.num_decoder_layers:
            raise ModelLoadError(
                f"{model_dir} is inconsistent: {spec.decoder_with_past_file} has {layers} decoder "
                f"layers but perfrl_model.json says num_decoder_layers={spec.num_decoder_layers}"
            )


class _OnnxStepper:
    """The :class:`~server.inference.decoding.Stepper` for one prompt over the sessions.

    All rows decode the same prompt, so the encoder's hidden states and the cross-attention
    cache are identical across rows: the first decoder step runs on one row and is tiled,
    and reordering rows (beam search) never needs to move the cross-attention cache.
    """

    def __init__(
        self, sessions: _Sessions, hidden: np.ndarray, mask: np.ndarray, start_id: int
    ) -> None:
        self.s = sessions
        self.hidden = hidden
        self.mask = mask
        self.start_id = start_id
        self.past: dict[str, np.ndarray] = {}
        self.batch = 0

    def start(self, n: int) -> np.ndarray:
        feeds = {
            "input_ids": np.array([[self.start_id]], dtype=np.int64),
            "encoder_hidden_states": self.hidden,
            "encoder_attention_mask": self.mask,
        }
        outputs = self.s.decoder.run(
            None, {k: v for k, v in feeds.items() if k in self.s.decoder_inputs}
        )
        named = dict(zip(self.s.decoder_outputs, outputs))
        self.past = {key: np.repeat(named["present." + key], n, axis=0) for key in self.s.past_keys}
        self.batch = n
        return np.repeat(named["logits"][:, -1, :], n, axis=0)

    def advance(self, tokens: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        n = len(tokens)
        if rows is not None:
            for key, value in self.past.items():
                if ".encoder." in key:
                    if n != self.batch:
                        self.past[key] = value[:n]  # rows are identical: any n of them do
                else:
                    self.past[key] = value[rows]
        self.batch = n
        feeds = {
            "input_ids": tokens.reshape(n, 1),
            "encoder_attention_mask": np.repeat(self.mask, n, axis=0),
        }
        if "encoder_hidden_states" in self.s.past_inputs:
            feeds["encoder_hidden_states"] = np.repeat(self.hidden, n, axis=0)
        for key, value in self.past.items():
            feeds["past_key_values." + key] = value
        outputs = self.s.decoder_past.run(None, feeds)
        for name, value in zip(self.s.past_outputs, outputs):
            if name.startswith("present.") and ".decoder." in name:
                self.past[name[len("present.") :]] = value
        return outputs[self.s.past_outputs.index("logits")][:, -1, :]


class OnnxSeq2SeqModel:
    """A loaded model directory. Build with :meth:`load`."""

    def __init__(self, model_dir: Path, spec: ModelSpec, sessions: _Sessions, tokenizer) -> None:
        self.model_dir = model_dir
        self.spec = spec
        self._sessions = sessions
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, model_dir: Path | str, threads: int | None = None) -> OnnxSeq2SeqModel:
        """Read the spec, open the three ONNX files and the tokenizer; see the module doc."""
        model_dir = Path(model_dir)
        try:
            spec = load_model_spec(model_dir)
        except ModelContractError as exc:
            raise ModelLoadError(str(exc)) from exc
        sessions = _Sessions(model_dir, spec, threads or default_threads())
        tokenizer = cls._load_tokenizer(model_dir / spec.tokenizer_file, spec)
        return cls(model_dir, spec, sessions, tokenizer)

    @staticmethod
    def _load_tokenizer(path: Path, spec: ModelSpec):
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
            raise ModelLoadError(f"cannot load the tokenizer {path}: {exc}") from exc
        for what, token_id in (
            ("eos_token_id", spec.eos_token_id),
            ("pad_token_id", spec.pad_token_id),
        ):
            if tokenizer.id_to_token(token_id) is None:
                raise ModelLoadError(
                    f"{path} has no token with id {token_id}, the {what} of perfrl_model.json"
                )
        tokenizer.no_padding()
        # The post-processor (<s> ... </s>) counts towards the limit: truncation keeps it.
        tokenizer.enable_truncation(max_length=spec.max_source_length)
        return tokenizer

    # -- text ---------------------------------------------------------------------------------

    def prompt_for(self, function_source: str) -> str:
        """The model's input for a (dedented) function, in the trained prompt format."""
        return build_prompt(function_source, self.spec)

    def encode_prompt(self, prompt: str) -> EncodedPrompt:
        encoding = self._tokenizer.encode(prompt)
        return EncodedPrompt(list(encoding.ids), bool(encoding.overflowing))

    def decode(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(token_ids, skip_special_tokens=True)

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self,
        prompt: str,
        num_return: int = 1,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        num_beams: int = 1,
        max_new_tokens: int | None = None,
        seed: int | None = None,
        greedy_first: bool = False,
        min_new_tokens: int = 0,
    ) -> list[GeneratedSequence]:
        """Sequences for ``prompt`` (truncated to ``max_source_length`` tokens).

        - ``num_beams > 1``: beam search, the best ``num_return`` hypotheses, best first
          (``do_sample`` must be false);
        - ``do_sample``: ``num_return`` samples decoded as one batch; with ``greedy_first``
          the first of them is the greedy sequence instead (same batch, same encoder pass);
        - otherwise greedy (``num_return`` must be 1).

        ``max_new_tokens`` defaults to the spec's generation default and is capped by
        ``max_target_length``. ``seed`` makes sampling reproducible. ``min_new_tokens`` forbids
        the end of sequence before that many tokens.
        """
        if num_return < 1:
            raise ValueError(f"num_return must be >= 1, got {num_return}")
        cap = self.spec.max_target_length
        limit = self.spec.generation.max_new_tokens if max_new_tokens is None else max_new_tokens
        limit = max(0, min(limit, cap))
        if num_beams > 1 and do_sample:
            raise ValueError("beam search with sampling is not supported: use one or the other")
        if num_beams <= 1 and not do_sample and num_return != 1:
            raise ValueError(
                "greedy decoding returns one sequence: ask for num_return=1, "
                "or sample, or use beam search"
            )
        if num_beams > 1 and num_return > num_beams:
            raise ValueError(f"num_return ({num_return}) must be <= num_beams ({num_beams})")
        params = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p)
        stepper = self._stepper(self.encode_prompt(prompt).ids)
        eos = self.spec.eos_token_id
        decoded: list[Decoded]
        if num_beams > 1:
            decoded = beam_search(
                stepper, num_beams, num_return, limit, eos, min_new_tokens=min_new_tokens
            )
        else:
            greedy = [not do_sample or (greedy_first and i == 0) for i in range(num_return)]
            decoded = sample_or_greedy(
                stepper,
                greedy,
                limit,
                eos,
                params,
                np.random.default_rng(seed),
                min_new_tokens=min_new_tokens,
            )
        return [
            GeneratedSequence(self.decode(d.tokens), d.tokens, d.score, d.finished) for d in decoded
        ]

    def _stepper(self, ids: list[int]) -> _OnnxStepper:
        input_ids = np.array([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        hidden = self._sessions.encoder.run(
            ["last_hidden_state"], {"input_ids": input_ids, "attention_mask": mask}
        )[0]
        return _OnnxStepper(self._sessions, hidden, mask, self.spec.decoder_start_token_id)
