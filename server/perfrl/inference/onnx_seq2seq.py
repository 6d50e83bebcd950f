"""An exported T5-style model run with onnxruntime and our own numpy decoding loop.

No torch, no transformers: the model directory follows :mod:`perfrl.model_contract`: an
encoder, a decoder in one of the contract's formats (``perfrl-step-v1``:
:mod:`perfrl.inference.step_graphs`; ``optimum-with-past``:
:mod:`perfrl.inference.optimum_decoder`), and a ``tokenizers`` file.

A caller may rely on:

- :meth:`OnnxSeq2SeqModel.load` either returning a usable model or raising
  :class:`ModelLoadError` whose message names the directory and the bad piece (missing spec
  or file, unreadable ONNX file, inputs/outputs that are not a seq2seq export, tokenizer
  problems);
- :meth:`OnnxSeq2SeqModel.generate` being safe to call from several threads at once (all
  decoding state is per call) and reproducible for a given ``seed``;
- one encoder pass per call, whatever the number of sequences asked for;
- :meth:`OnnxSeq2SeqModel.output_constraints` building, for one prompt, what
  :meth:`~OnnxSeq2SeqModel.generate` may be told to respect: a forced start of the output, the
  words it may use, and the repetition stop (:mod:`perfrl.inference.decoding`).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfrl.inference.attribute_guard import AttributeGuard
from perfrl.inference.copy_bias import CopySource
from perfrl.inference.decoding import (
    Decoded,
    OutputConstraints,
    RepetitionStop,
    SamplingParams,
    Stepper,
    beam_search,
    sample_or_greedy,
)
from perfrl.inference.indent_guard import IndentGuard
from perfrl.inference.line_ref_guard import LineRefGuard
from perfrl.inference.optimum_decoder import OptimumDecoder
from perfrl.inference.ort_sessions import (
    ModelLoadError,
    default_threads,
    names,
    open_session,
    require_names,
)
from perfrl.inference.output_vocabulary import VocabularyPieces
from perfrl.inference.step_graphs import StepGraphDecoder
from perfrl.inference.string_guard import StringGuard
from perfrl.inference.word_guard import GuardPair, RowGuard, WordGuard
from perfrl.model_contract import (
    DECODER_FORMAT_STEP,
    ModelContractError,
    ModelSpec,
    build_prompt,
    load_model_spec,
)

__all__ = [
    "EncodedPrompt",
    "GeneratedSequence",
    "ModelLoadError",
    "OnnxSeq2SeqModel",
    "OutputConstraints",
]


@dataclass(frozen=True)
class GeneratedSequence:
    """One output. ``token_ids`` exclude the decoder start token and end with the
    end-of-sequence id when ``finished``; ``score`` is the mean log-probability per generated
    token (beam search: Hugging Face's length-normalised sequence score). ``looped``: ended by
    the repetition stop of the constraints (then ``finished`` is false)."""

    text: str
    token_ids: list[int]
    score: float
    finished: bool = True
    looped: bool = False


@dataclass(frozen=True)
class EncodedPrompt:
    ids: list[int]
    truncated: bool


class OnnxSeq2SeqModel:
    """A loaded model directory. Build with :meth:`load`."""

    def __init__(
        self, model_dir: Path, spec: ModelSpec, encoder, decoder, tokenizer
    ) -> None:
        self.model_dir = model_dir
        self.spec = spec
        self._encoder = encoder
        self._decoder: StepGraphDecoder | OptimumDecoder = decoder
        self._tokenizer = tokenizer
        self._pieces: VocabularyPieces | None = None
        self._pieces_lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path | str, threads: int | None = None) -> OnnxSeq2SeqModel:
        """Read the spec, open the three ONNX files and the tokenizer; see the module doc."""
        model_dir = Path(model_dir)
        try:
            spec = load_model_spec(model_dir)
        except ModelContractError as exc:
            raise ModelLoadError(str(exc)) from exc
        threads = threads or default_threads()
        encoder_path = model_dir / spec.encoder_file
        encoder = open_session(encoder_path, threads)
        kind = "an encoder export"
        require_names(encoder_path, names(encoder.get_inputs()),
                      {"input_ids", "attention_mask"}, kind)
        require_names(encoder_path, names(encoder.get_outputs()), {"last_hidden_state"}, kind)
        decoder_type = (
            StepGraphDecoder if spec.decoder_format == DECODER_FORMAT_STEP else OptimumDecoder
        )
        decoder = decoder_type(model_dir, spec, threads)
        tokenizer = cls._load_tokenizer(model_dir / spec.tokenizer_file, spec)
        return cls(model_dir, spec, encoder, decoder, tokenizer)

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

    def output_constraints(
        self,
        forced_start: str = "",
        words: Iterable[str] | None = None,
        repetition: RepetitionStop | None = None,
        allow_non_ascii: bool = False,
        balanced: bool = False,
        copy_from: str = "",
        copy_bonus: float = 0.0,
        copy_min_match: int = 1,
        whole_words: bool = False,
        line_refs: int = 0,
        receivers: Mapping[str, frozenset[str]] | None = None,
        edited_lines: Sequence[str] | None = None,
        string_placeholders: Collection[int] | None = None,
    ) -> OutputConstraints:
        """Constraints for one prompt's outputs: they start with the tokens of
        ``forced_start`` (encoded as the start of a longer text is: a byte-level BPE never
        merges across the pre-tokenizer's word boundaries, so cut the text at one, e.g.
        after a ``:``), use only tokens whose word pieces fit ``words`` (None: any token;
        see :mod:`perfrl.inference.output_vocabulary`) and end when they loop
        (``repetition``); with ``balanced``, only brackets and quotes that can still
        balance (:mod:`perfrl.inference.bracket_guard`); with ``copy_from`` and a positive
        ``copy_bonus``, a bias towards continuing that text (:mod:`perfrl.inference.copy_bias`;
        the text the output copies: the model's input as it reads it; a row's tail must
        match ``copy_min_match`` tokens of it or more); with ``whole_words`` and ``words``,
        every word a row spells must be one of ``words`` (or a number:
        :mod:`perfrl.inference.word_guard`), not only every token's pieces; with
        ``line_refs`` (an "edit-v2" model: its input's line count), line references that name
        a line of the input, each at most once (:mod:`perfrl.inference.line_ref_guard`); with
        ``receivers`` (placeholder -> the attributes its type has:
        :func:`perfrl.inference.attribute_guard.receiver_types`), ``vK.attr`` only for an
        attribute ``vK`` has (:mod:`perfrl.inference.attribute_guard`); with ``edited_lines``
        (an edit model: the lines of the function its scripts edit), hunk lines indented as
        Python's blocks allow where they land (:mod:`perfrl.inference.indent_guard`); with
        ``string_placeholders`` (an abstracting model: the numbers of its input's string
        placeholders), strings only as those placeholders (:mod:`perfrl.inference.string_guard`)."""
        prefix = ()
        if forced_start:
            prefix = tuple(self._tokenizer.encode(forced_start, add_special_tokens=False).ids)
        pieces = self.vocabulary_pieces()
        allowed = None
        if words is not None:
            words = frozenset(words)  # read twice below
            allowed = pieces.allowed_mask(words, allow_non_ascii)
        guards: list[RowGuard] = [pieces.guard] if balanced else []
        if whole_words and words is not None:
            guards.append(WordGuard(pieces.token_words, words, self.spec.eos_token_id))
        if line_refs > 0:
            guards.append(LineRefGuard(pieces.guard.texts, self.spec.eos_token_id, line_refs))
        if receivers:
            guards.append(AttributeGuard(pieces.guard.texts, self.spec.eos_token_id, receivers))
        if string_placeholders is not None:
            guards.append(StringGuard(pieces.guard.texts, self.spec.eos_token_id,
                                      string_placeholders))
        if edited_lines is not None:  # last: the costliest check runs on what the others pass
            guards.append(IndentGuard(pieces.guard.texts, self.spec.eos_token_id, edited_lines))
        guard: RowGuard | None = None
        if guards:
            guard = guards[0]
            for other in guards[1:]:
                guard = GuardPair(guard, other)
        copy = None
        if copy_from and copy_bonus > 0:
            source = self._tokenizer.encode(copy_from, add_special_tokens=False).ids
            copy = CopySource(source, copy_bonus, end_token=self.spec.eos_token_id,
                              min_match=copy_min_match)
        return OutputConstraints(
            forced_prefix=prefix, allowed=allowed, repetition=repetition, guard=guard, copy=copy
        )

    def vocabulary_pieces(self) -> VocabularyPieces:
        """The tokenizer's vocabulary indexed by word pieces (built on first use)."""
        with self._pieces_lock:
            if self._pieces is None:
                self._pieces = VocabularyPieces.from_tokenizer(
                    self._tokenizer, self.spec.eos_token_id
                )
            return self._pieces

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
        constraints: OutputConstraints | None = None,
    ) -> list[GeneratedSequence]:
        """Sequences for ``prompt`` (truncated to ``max_source_length`` tokens).

        - ``num_beams > 1``: beam search, the best ``num_return`` hypotheses, best first
          (``do_sample`` must be false);
        - ``do_sample``: ``num_return`` samples decoded as one batch; with ``greedy_first``
          the first of them is the greedy sequence instead (same batch, same encoder pass);
        - otherwise greedy (``num_return`` must be 1).

        ``max_new_tokens`` defaults to the spec's generation default and is capped by
        ``max_target_length``. ``seed`` makes sampling reproducible. ``min_new_tokens`` forbids
        the end of sequence (and the repetition stop) before that many tokens.
        ``constraints`` (see :meth:`output_constraints`) apply to every strategy; the forced
        prefix counts towards the generated tokens.
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
        stepper = self.stepper(self.encode_prompt(prompt).ids)
        eos = self.spec.eos_token_id
        decoded: list[Decoded]
        if num_beams > 1:
            decoded = beam_search(
                stepper, num_beams, num_return, limit, eos, min_new_tokens=min_new_tokens,
                constraints=constraints,
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
                constraints=constraints,
            )
        return [
            GeneratedSequence(self.decode(d.tokens), d.tokens, d.score, d.finished, d.looped)
            for d in decoded
        ]

    def stepper(self, ids: list[int]) -> Stepper:
        """A :class:`~perfrl.inference.decoding.Stepper` over the prompt ``ids`` (one encoder
        pass), for callers that drive decoding themselves (the export's parity check)."""
        input_ids = np.array([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        hidden = self._encoder.run(
            ["last_hidden_state"], {"input_ids": input_ids, "attention_mask": mask}
        )[0]
        return self._decoder.stepper(hidden, mask, self.spec.decoder_start_token_id,
                                     input_ids)
