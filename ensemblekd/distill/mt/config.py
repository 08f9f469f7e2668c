"""What ``distill mt`` distils and how the student trains: directions, pivot pool, teacher method
(DistillMTConfig), the training settings (TrainConfig), and their checks."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping, Optional, Sequence

from .teachers import check_teachers

__all__ = ["DistillMTConfig", "TrainConfig", "TEACHER_METHODS", "LOSSES", "PRECISIONS", "parse_direction"]

LOSSES = ("seqkd", "kl", "rkl", "js", "tvd", "skl", "srkl", "gkd", "llmr")
PRECISIONS = ("fp32", "bf16", "fp16")
_SAMPLED = ("rkl", "js", "tvd", "srkl", "gkd", "llmr")
_LOSS_OPTIONS = {"kd_temperature": _SAMPLED, "kd_top_p": _SAMPLED, "skew_alpha": ("skl", "srkl"),
                 "gkd_lambda": ("gkd",), "gkd_beta": ("gkd",), "llmr_next": ("llmr",), "llmr_reward": ("llmr",),
                 "llmr_baseline": ("llmr",), "llmr_scale": ("llmr",), "llmr_clip": ("llmr",)}


@dataclass
class TrainConfig:
    """Student training settings (validated on construction).

    ``max_steps`` (if set) overrides ``epochs``; ``warmup_steps`` of linear warm-up then linear decay to 0;
    ``max_tokens``: padded tokens per batch PER PROCESS (the global batch is ``max_tokens * world_size``,
    times ``grad_accum`` per update); ``save_every`` steps between checkpoints; ``device``: ``auto``,
    ``cpu``, ``cuda`` (each process its ``LOCAL_RANK`` GPU), ``mps``; ``precision``: fp32, bf16, fp16;
    ``report_to``: the engine's integrations (``none``, ``tensorboard``, ``wandb``, ...);
    ``trainer_args``: any further ``Seq2SeqTrainingArguments`` fields, e.g. ``{"fsdp": "full_shard
    auto_wrap"}`` or ``{"deepspeed": "ds.json"}`` (passed through, not tested here).
    """

    epochs: int = 1
    max_steps: Optional[int] = None
    lr: float = 3e-4
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_tokens: int = 4096
    grad_accum: int = 1
    grad_clip: float = 1.0
    label_smoothing: float = 0.0
    loss: str = "seqkd"
    kd_max_new_tokens: int = 64
    kd_temperature: float = 1.0
    kd_top_p: float = 1.0
    skew_alpha: float = 0.1
    gkd_lambda: float = 0.5
    gkd_beta: float = 0.5
    llmr_next: str = "softmax"
    llmr_reward: str = "dense"
    llmr_baseline: bool = True
    llmr_scale: float = 1.0
    llmr_clip: Optional[float] = None
    seed: int = 0
    save_every: int = 200
    logging_steps: int = 50
    device: str = "auto"
    precision: str = "fp32"
    report_to: Sequence[str] = ("none",)
    keep_state: bool = False
    trainer_args: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r}: expected one of {', '.join(LOSSES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        ints = {"epochs": 1, "max_tokens": 1, "grad_accum": 1, "save_every": 1, "logging_steps": 1,
                "kd_max_new_tokens": 1, "warmup_steps": 0, "seed": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"--{name.replace('_', '-')} {v!r}: expected an integer >= {low}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 1):
            raise ValueError(f"--max-steps {self.max_steps!r}: expected an integer >= 1")
        for name in ("weight_decay", "label_smoothing", "grad_clip"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) >= 0):
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)!r}: expected a number >= 0")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"--lr {self.lr!r}: expected a number > 0")
        if self.label_smoothing >= 1:
            raise ValueError(f"--label-smoothing {self.label_smoothing}: expected < 1")
        for name in ("skew_alpha", "gkd_lambda", "gkd_beta", "kd_top_p"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 or (name == "kd_top_p"
                                                                                          and v == 0):
                raise ValueError(f"--{name.replace('_', '-')} {v!r}: expected a number in "
                                 + ("(0, 1]" if name == "kd_top_p" else "[0, 1]"))
        for name in ("kd_temperature", "llmr_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} {v!r}: expected a number > 0")
        if self.llmr_clip is not None and not (isinstance(self.llmr_clip, (int, float)) and self.llmr_clip > 0):
            raise ValueError(f"--llmr-clip {self.llmr_clip!r}: expected a number > 0")
        from .llmr import NEXT_VALUES, REWARDS

        if self.llmr_next not in NEXT_VALUES:
            raise ValueError(f"--llmr-next {self.llmr_next!r}: expected one of {', '.join(NEXT_VALUES)}")
        if self.llmr_reward not in REWARDS:
            raise ValueError(f"--llmr-reward {self.llmr_reward!r}: expected one of {', '.join(REWARDS)}")
        if isinstance(self.report_to, str):
            self.report_to = [self.report_to]
        self.report_to = list(self.report_to)
        self.trainer_args = dict(self.trainer_args)

    def fingerprint(self) -> dict:
        """What a resumed run must share with the stored one (device, precision, logging, checkpoint
        frequency and state keeping may change between runs)."""
        d = asdict(self)
        for key in ("device", "save_every", "logging_steps", "report_to", "keep_state", "trainer_args",
                    "precision"):
            d.pop(key)
        for key, losses in _LOSS_OPTIONS.items():   # an option the loss does not read does not matter
            if self.loss not in losses:
                d.pop(key)
        return d


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
        prompts = self.translate_options.get("prompts") or ()
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"prompts={prompts!r}: expected a list of prompt templates")
        for s, t in self.directions:
            needs = (self.num_teachers == 1 and len(prompts) < 2 and self.method in
                     ("ebbs", "average", "vote", "mbr", "union")) or self.method == "pivot" \
                or (self.train.loss != "seqkd" and len(prompts) < 2)
            if needs and not self.pivots_for(s, t):
                raise ValueError(f"method={self.method!r} (loss={self.train.loss!r}) needs at least one pivot "
                                 f"language for {s}-{t}; got pivots={self.pivots}")

    def pivots_for(self, src: str, tgt: str) -> list[str]:
        return [p for p in self.pivots if p not in (src, tgt)]
