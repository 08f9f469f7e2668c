"""Configuration of the parser student (torch-free, so the CLI can show defaults cheaply)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

__all__ = ["ParserConfig", "TrainConfig", "ParserTrainConfig", "LOSSES"]

LOSSES = ("crf", "margin")


@dataclass
class ParserConfig:
    """Architecture of the student (saved with every checkpoint).

    word_dim/char_dim: embedding sizes; char_filters, char_width: the character CNN;
    hidden: LSTM size per direction; layers: BiLSTM layers; mlp: span MLP width; dropout: on
    embeddings, between LSTM layers and in the MLP; lowercase: lower-case words for the word embedding (digits are
    always mapped to 0 there; characters keep them); char_case: the character CNN sees the
    original case (else lower case); max_word_chars: longer
    words are cut for the character CNN only.
    """

    word_dim: int = 100
    char_dim: int = 32
    char_filters: int = 100
    char_width: int = 3
    hidden: int = 200
    layers: int = 2
    mlp: int = 250
    dropout: float = 0.3
    lowercase: bool = True
    char_case: bool = True
    max_word_chars: int = 30

    def __post_init__(self):
        for name in ("word_dim", "char_dim", "char_filters", "char_width", "hidden", "layers", "mlp",
                     "max_word_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ParserConfig.{name} must be a positive integer; got {value!r}")
        if self.char_width % 2 == 0:
            raise ValueError(f"ParserConfig.char_width must be odd; got {self.char_width}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"ParserConfig.dropout must be in [0, 1); got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ParserConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown parser config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)


@dataclass
class TrainConfig:
    """Training hyper-parameters.  ``batch_size`` counts sentences; ``unk_alpha``: word dropout
    (a word seen c times becomes UNK with probability alpha / (alpha + c)); ``clip``: gradient norm
    clipping; ``patience``: stop after that many epochs without a better dev score (None: never);
    ``device``: cpu, cuda or auto; ``threads``: torch CPU threads (None: leave torch's default)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    loss: str = "crf"
    unk_alpha: float = 0.8375
    clip: float = 5.0
    seed: int = 0
    patience: int | None = None
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self):
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer; got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be > 0; got {self.lr!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}; got {self.loss!r}")
        if self.unk_alpha < 0 or self.clip <= 0:
            raise ValueError("unk_alpha must be >= 0 and clip > 0")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None; got {self.patience!r}")
        if self.device not in ("cpu", "cuda", "auto") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be cpu, cuda, cuda:N or auto; got {self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1; got {self.threads!r}")


ParserTrainConfig = TrainConfig  # the name under which ensemblekd.distill exports it
