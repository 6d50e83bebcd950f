"""Hand-written candidates: each file the user names is one rewrite of the target function.

A file may hold just the function (a Markdown code block or some prose around it is fine:
the engine's cleaning, :func:`~perfrl.engine.candidate_text.clean_candidate`, normalizes it),
or a whole module, in which case the ``def`` with the target's name is taken from it
(:func:`~perfrl.engine.candidate_text.find_definition`): at the top level for a function,
inside the class of the same name for a method (following the whole class path first,
``Outer.Inner.method``). Only that ``def`` is used: module-level imports of the file are not
carried over, so a rewrite that needs an import must do it inside the function body.

A caller may rely on every readable file yielding exactly one candidate (label: the path as
given), cleaned, in the order given (a file that does not parse is one too: the verifier
calls it invalid, which is what the user should see), and on problems with files (missing,
unreadable, no such function) raising :class:`CandidateSourceError` after the good files have
been yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from perfrl.engine.candidate_source import CandidateSourceError
from perfrl.engine.candidate_text import CleanCandidate, clean_candidate
from perfrl.engine.types import Candidate, FunctionTarget


class FileCandidateSource:
    """Candidates read from files; ``label`` is the path as the user gave it."""

    name = "file"

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]

    def generate(self, target: FunctionTarget, limit: int) -> Iterator[CleanCandidate]:
        problems: list[str] = []
        produced = 0
        for path in self.paths:
            if produced >= limit:
                break
            try:
                text = path.read_text(encoding="utf-8-sig")
            except FileNotFoundError:
                problems.append(f"candidate file {path} does not exist")
                continue
            except IsADirectoryError:
                problems.append(f"candidate file {path} is a folder, not a file")
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"cannot read candidate file {path}: {exc}")
                continue
            raw = Candidate(source="file", label=str(path), code=text)
            clean = clean_candidate(raw, target, produced + 1, extract_definition=True)
            if clean.flaw.startswith("defines no function"):
                problems.append(
                    f"candidate file {path} does not define {target.qualname} (or a def named "
                    f"{target.name}); put the rewritten function in it"
                )
                continue
            produced += 1
            yield clean
        if problems:
            raise CandidateSourceError("; ".join(problems))
