"""What ``distill mt`` distils: directions, pivot pool, teacher method, and their checks (DistillMTConfig)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from .teachers import check_teachers
from .trainer import TrainConfig

__all__ = ["DistillMTConfig", "TEACHER_METHODS", "parse_direction"]

TEACHER_METHODS = ("ebbs", "average", "vote", "mbr", "pivot", "direct", "self", "union")


def parse_direction(text: str) -> tuple[str, str]:
    """``"de-fr"`` -> ``("de", "fr")``.  Codes may not contain ``-`` (NLLB's ``deu_Latn`` is fine)."""
    parts = text.split("-")
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ValueError(f"direction {text!r}: expected SRC-TGT with two different language codes, e.g. de-fr")
    return parts[0], parts[1]


@dataclass
class DistillMTConfig:
    """What to decode and how.  ``directions``: (src, tgt) pairs; ``pivots``: the pivot pool; ``num_teachers``:
    how many teacher models form the ensemble (``distill_mt``'s ``teacher_paths``; several need an ensemble
    method and sequence-level KD, and then need no pivot: the models' direct paths are an ensemble)."""

    directions: Sequence[tuple[str, str]]
    pivots: Sequence[str] = ()
    method: str = "ebbs"
    beam_size: int = 5
    max_new_tokens: Optional[int] = None
    length_penalty: float = 1.0
    batch_size: Optional[int] = None
    shard_size: int = 256
    translate_options: Mapping[str, object] = field(default_factory=dict)
    truncate: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)
    num_teachers: int = 1

    def __post_init__(self):
        self.directions = [tuple(d) for d in self.directions]
        if not self.directions:
            raise ValueError("no direction to distill")
        if len(set(self.directions)) != len(self.directions):
            raise ValueError(f"directions repeated: {self.directions}")
        if self.method not in TEACHER_METHODS:
            raise ValueError(f"method={self.method!r}; expected one of {TEACHER_METHODS}")
        if self.method == "self":
            self.method = "direct"
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {self.shard_size}")
        self.pivots = list(self.pivots)
        if len(set(self.pivots)) != len(self.pivots):
            raise ValueError(f"pivots repeated: {self.pivots}")
        if isinstance(self.num_teachers, bool) or not isinstance(self.num_teachers, int) or self.num_teachers < 1:
            raise ValueError(f"num_teachers={self.num_teachers!r}: expected an int >= 1")
        check_teachers(self, self.num_teachers)
        for s, t in self.directions:
            needs = (self.num_teachers == 1 and self.method in ("ebbs", "average", "vote", "mbr", "pivot", "union")) \
                or self.train.loss != "seqkd"
            if needs and not self.pivots_for(s, t):
                raise ValueError(f"method={self.method!r} (loss={self.train.loss!r}) needs at least one pivot "
                                 f"language for {s}-{t}; got pivots={self.pivots}")

    def pivots_for(self, src: str, tgt: str) -> list[str]:
        return [p for p in self.pivots if p not in (src, tgt)]
