"""What translate() returns: Translation and ComponentOutput, and a search hypothesis made a Translation."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

__all__ = ["Translation", "ComponentOutput", "from_hypothesis"]


@dataclass(frozen=True)
class ComponentOutput:
    """What one component read (``input``: the source or its pivot translation) and, for ``"mbr"``, its own
    beam-search outputs (``candidates``); ``name`` is its path, ``model`` the model that scored it."""

    name: str
    input: str
    candidates: tuple[str, ...] = ()
    model: str = ""


@dataclass(frozen=True)
class Translation:
    """One translation.

    text: the decoded output ("" for an empty source line).
    token_ids: generated ids, decoder prompt (forced language token) and final EOS excluded.
    score: the search's ranking score, ``logprob / length ** length_penalty`` (0.0 for empty lines).
    nbest: with ``num_return > 1``, the best ``num_return`` (this one first).
    provenance: with ``return_provenance=True`` (search methods): per token, the components whose lower
        beam (EBBS) / vote (vote) had it.
    components: with ``return_provenance=True``: per component its input and (``"mbr"``) candidates.
    """

    text: str
    token_ids: tuple[int, ...]
    score: float
    nbest: tuple["Translation", ...] = ()
    provenance: Optional[tuple[tuple[int, ...], ...]] = None
    components: tuple[ComponentOutput, ...] = field(default=())


def from_hypothesis(adapter, h, want_prov):
    """A finished hypothesis -> Translation (final EOS dropped, text decoded; provenance if ``want_prov``)."""
    tokens = list(h.tokens)
    prov = h.provenance if want_prov else None
    if tokens and tokens[-1] in adapter.eos_token_ids:
        tokens = tokens[:-1]
        prov = prov[:-1] if prov is not None else None
    return Translation(adapter.decode(tokens), tuple(tokens), float(h.score), provenance=prov)
