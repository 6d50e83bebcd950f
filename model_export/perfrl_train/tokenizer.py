"""The PerfRL tokenizer: a byte-level BPE on Python code with CodeT5's special tokens.

Two ways to get one:

- :func:`load_pretrained_tokenizer` for ``--base`` (a local checkpoint directory or a hub name
  such as ``Salesforce/codet5-small``, loaded with ``AutoTokenizer``);
- :func:`train_code_tokenizer` for ``--from-config``: a byte-level BPE trained with
  ``tokenizers`` on local Python sources (the standard library plus the training data).

A caller may rely on:

- the special-token ids of CodeT5: ``<pad>``=0, ``<s>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>``=4;
- encoding adding ``<s>`` ... ``</s>`` (RoBERTa post-processing, as CodeT5 does), both through
  ``AutoTokenizer`` and through the plain ``tokenizer.json`` that the server reads with
  ``tokenizers.Tokenizer.from_file`` (same ids either way; :func:`check_tokenizer_dir` proves it);
- trained tokenizers being cached by the content of their corpus and settings, so a second
  request with the same inputs returns in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from perfrl.engine.cache_dir import cache_dir

from .errors import PerfRLError

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<mask>")
PAD_ID, BOS_ID, EOS_ID, UNK_ID, MASK_ID = range(5)
#: The interpreter's standard library: a large, local, license-clean Python corpus.
DEFAULT_STDLIB_DIR = Path(os.__file__).resolve().parent
TOKENIZER_JSON = "tokenizer.json"
#: Bump when the training recipe changes, so old cache entries are not reused.
_RECIPE_VERSION = 1


class TokenizerError(PerfRLError):
    """A tokenizer cannot be built or loaded, or does not have the ids PerfRL expects."""


def default_cache_dir() -> Path:
    """Where trained tokenizers are kept: ``$PERFRL_CACHE`` (older name, still honoured), else
    the one cache rule's root (``perfrl.engine.cache_dir``); they go in ``tokenizers/``."""
    legacy = os.environ.get("PERFRL_CACHE")
    return Path(legacy) if legacy else cache_dir("tokenizers").parent


@dataclass
class TokenizerRecipe:
    """What a trained tokenizer depends on (its cache key is derived from these + the corpus)."""

    vocab_size: int = 16000
    min_frequency: int = 2
    # Standard-library files to train on; None: all of them (31.5 MB, ~6 s for 16k).
    stdlib_dir: Path | None = None
    max_stdlib_files: int | None = None
    model_max_length: int = 512


def _stdlib_files(recipe: TokenizerRecipe) -> list[Path]:
    root = Path(recipe.stdlib_dir) if recipe.stdlib_dir else DEFAULT_STDLIB_DIR
    if not root.is_dir():
        raise TokenizerError(f"standard-library directory {root} does not exist")
    # Sorted so the corpus (and the cache key) does not depend on directory order.
    files = sorted(p for p in root.rglob("*.py")
                   if "site-packages" not in p.parts and "__pycache__" not in p.parts)
    if recipe.max_stdlib_files is not None:
        files = files[: recipe.max_stdlib_files]
    return files


def _corpus_key(recipe: TokenizerRecipe, files: Sequence[Path], extra_texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({**asdict(recipe), "stdlib_dir": str(recipe.stdlib_dir),
                              "version": _RECIPE_VERSION}, sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for text in extra_texts:
        digest.update(hashlib.sha256(text.encode("utf-8", "replace")).digest())
    return digest.hexdigest()[:20]


def _iter_corpus(files: Sequence[Path], extra_texts: Sequence[str]) -> Iterator[str]:
    for path in files:
        try:
            yield path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a few test files are deliberately undecodable; they teach nothing
    yield from extra_texts


def build_raw_tokenizer(texts: Iterable[str], vocab_size: int, min_frequency: int = 2):
    """Train a byte-level BPE (``tokenizers.Tokenizer``) with CodeT5's special tokens first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(sep=("</s>", EOS_ID), cls=("<s>", BOS_ID),
                                                      trim_offsets=False, add_prefix_space=False)
    for token_id, token in enumerate(SPECIAL_TOKENS):
        if tok.token_to_id(token) != token_id:
            raise TokenizerError(f"trained tokenizer put {token} at {tok.token_to_id(token)}, "
                                 f"not {token_id}")
    return tok


def wrap_fast_tokenizer(raw, model_max_length: int = 512):
    """A ``transformers`` fast tokenizer around a raw one (what AutoTokenizer will reload)."""
    from transformers import RobertaTokenizerFast

    return RobertaTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        add_prefix_space=False, trim_offsets=False,
        model_max_length=model_max_length,
    )


def train_code_tokenizer(recipe: TokenizerRecipe, extra_texts: Sequence[str] = (),
                         cache_dir: Path | None = None, log=print):
    """Train (or fetch from the cache) a tokenizer; returns a ``PreTrainedTokenizerFast``.

    ``extra_texts`` are added to the corpus (the training pairs' code). The cache entry is a
    directory written by ``save_pretrained`` under ``<cache_dir>/tokenizers/<key>``.
    """
    from transformers import AutoTokenizer

    files = _stdlib_files(recipe)
    key = _corpus_key(recipe, files, extra_texts)
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = cache_root / "tokenizers" / f"bpe{recipe.vocab_size}-{key}"
    if (entry / TOKENIZER_JSON).is_file():
        log(f"tokenizer: cached {entry}")
        return AutoTokenizer.from_pretrained(entry)
    log(f"tokenizer: training a {recipe.vocab_size}-token byte-level BPE on {len(files)} "
        f"stdlib files + {len(extra_texts)} training texts")
    raw = build_raw_tokenizer(_iter_corpus(files, extra_texts), recipe.vocab_size,
                              recipe.min_frequency)
    fast = wrap_fast_tokenizer(raw, recipe.model_max_length)
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    fast.save_pretrained(tmp)
    (tmp / "perfrl_tokenizer.json").write_text(json.dumps(
        {**asdict(recipe), "stdlib_dir": str(recipe.stdlib_dir), "stdlib_files": len(files),
         "extra_texts": len(extra_texts), "key": key}, indent=2) + "\n")
    check_tokenizer_dir(tmp)
    # Rename last so a crash never leaves a half-written cache entry that looks complete.
    try:
        tmp.rename(entry)
    except OSError:  # another process won the race: use its entry
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return AutoTokenizer.from_pretrained(entry)


def load_pretrained_tokenizer(base: str):
    """``AutoTokenizer.from_pretrained(base)`` (a local directory or a hub name), checked."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        raise TokenizerError(f"cannot load a tokenizer from {base!r}: {exc}") from exc
    check_special_ids(tok)
    if not getattr(tok, "is_fast", False):
        raise TokenizerError(f"{base!r} has no fast tokenizer (tokenizer.json); PerfRL's server "
                             "needs one")
    return tok


def check_special_ids(tok) -> None:
    """Raise TokenizerError unless the tokenizer has CodeT5's special-token ids."""
    expected = {"pad_token_id": PAD_ID, "bos_token_id": BOS_ID, "eos_token_id": EOS_ID,
                "unk_token_id": UNK_ID}
    wrong = {k: getattr(tok, k, None) for k, v in expected.items() if getattr(tok, k, None) != v}
    if wrong:
        raise TokenizerError(f"tokenizer special ids {wrong} differ from CodeT5's {expected}")


def check_tokenizer_dir(path: Path, probe: str = "def f(xs):\n    return [x * 2 for x in xs]\n"
                        ) -> None:
    """Prove that ``AutoTokenizer`` and the plain ``tokenizer.json`` encode identically."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / TOKENIZER_JSON).is_file():
        raise TokenizerError(f"{path} has no {TOKENIZER_JSON}")
    auto = AutoTokenizer.from_pretrained(path)
    check_special_ids(auto)
    plain = Tokenizer.from_file(str(path / TOKENIZER_JSON))
    a = auto(probe)["input_ids"]
    b = plain.encode(probe).ids
    if a != b:
        raise TokenizerError(f"{path}: AutoTokenizer ids {a[:12]}... differ from tokenizer.json "
                             f"ids {b[:12]}...")
    if a[0] != BOS_ID or a[-1] != EOS_ID:
        raise TokenizerError(f"{path}: encoding does not add <s> ... </s> ({a[:3]}...{a[-3:]})")
    if auto.decode(a, skip_special_tokens=True) != probe:
        raise TokenizerError(f"{path}: decode(encode(x)) != x")
