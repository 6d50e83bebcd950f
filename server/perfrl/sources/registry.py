"""Builds the candidate sources named in settings ("rules", "model", "replay", "file").

The model source is imported lazily so that asking only for rule candidates never loads
onnxruntime.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from perfrl.engine.candidate_source import CandidateSource, CandidateSourceError

KNOWN_SOURCES = ("rules", "model", "replay", "file")


def build_sources(
    names: Sequence[str],
    candidate_files: Sequence[Path] = (),
    model_handle=None,
    model_dir: Path | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    propose_sites: bool = True,
    copy_bonus: float = 0.0,
    whole_words: bool | None = None,
    region_min_lines: int | None = None,
    site_words: bool = False,
    attribute_guard: bool = False,
    mend_slips: bool = True,
    indent_guard: bool = True,
    string_guard: bool = True,
) -> list[CandidateSource]:
    """Sources in the order given; hand-written files first when there are any.

    ``model_handle`` (a :class:`perfrl.inference.background.ModelHandle`) is shared by a
    long-lived process such as the language server; without one the model is loaded from
    ``model_dir`` (default: the shipped model) when the model source is first used.
    ``propose_sites=False`` lets an edit model choose every hunk's lines itself (see
    :class:`perfrl.sources.model.ModelCandidateSource`; for comparisons); ``copy_bonus`` > 0
    biases the model's decoding towards copying its input (:mod:`perfrl.inference.copy_bias`);
    ``whole_words`` checks every word it spells (:mod:`perfrl.inference.word_guard`; None:
    as the model's spec says), and
    with ``site_words`` an edit at a forced site may only use the words of the lines it
    replaces (:func:`perfrl.sources.model.site_words`); ``attribute_guard`` lets a parameter
    annotated as a builtin container take only its type's attributes
    (:mod:`perfrl.inference.attribute_guard`); ``mend_slips=False`` verifies the model's
    outputs without mending its copying slips (:mod:`perfrl.sources.slip_repairs`; for
    measuring the model alone); ``indent_guard=False`` lets an edit model indent its hunk
    lines as it likes (:mod:`perfrl.inference.indent_guard`; for comparisons), and
    ``string_guard=False`` an abstracting model write strings that are none of its input's
    placeholders (:mod:`perfrl.inference.string_guard`; for comparisons);
    ``region_min_lines`` overrides the model's own length above which a function's loop
    regions are rewritten one at a time too (None: the model's spec). Unknown names raise
    CandidateSourceError listing the known ones.
    """
    unknown = [name for name in names if name not in KNOWN_SOURCES]
    if unknown:
        raise CandidateSourceError(
            f"unknown candidate source(s) {', '.join(unknown)}; known: {', '.join(KNOWN_SOURCES)}"
        )
    sources: list[CandidateSource] = []
    if candidate_files:
        from perfrl.sources.files import FileCandidateSource

        sources.append(FileCandidateSource([Path(p) for p in candidate_files]))
    for name in names:
        if name == "rules":
            from perfrl.sources.rules import RuleCandidateSource

            sources.append(RuleCandidateSource())
        elif name == "replay":
            from perfrl.sources.replay import ReplayCandidateSource

            sources.append(ReplayCandidateSource())
        elif name == "model":
            from perfrl.sources.model import ModelCandidateSource

            if model_handle is None:
                from perfrl.inference.background import ModelHandle
                from perfrl.model_contract import default_model_dir

                model_handle = ModelHandle(Path(model_dir) if model_dir else default_model_dir())
                model_handle.start()
            # None (the constructor's default too) means the model's own setting.
            sources.append(
                ModelCandidateSource(model_handle, temperature=temperature, seed=seed,
                                     propose_sites=propose_sites, copy_bonus=copy_bonus,
                                     whole_words=whole_words,
                                     region_min_lines=region_min_lines,
                                     site_words=site_words,
                                     attribute_guard=attribute_guard,
                                     mend_slips=mend_slips, indent_guard=indent_guard,
                                     string_guard=string_guard)
            )
    return sources
