"""The teacher's decode function: translate() on a list of source lines -> training records (targets, pivot texts)."""
from __future__ import annotations

import inspect

from .config import DistillMTConfig

__all__ = ["make_decoder"]


def _translate_kwargs(translate, options: dict) -> dict:
    """Pass ``quiet``/``progress`` only if this translate() has them (the shard bar is the progress)."""
    params = inspect.signature(translate).parameters
    out = dict(options)
    if "quiet" in params:
        out.setdefault("quiet", True)
    elif "progress" in params:
        out.setdefault("progress", False)
    return out


def make_decoder(model, tokenizer, cfg: DistillMTConfig, src: str, tgt: str, with_pivots: bool):
    # model: one model, or a list of teacher models (an ensemble of models)
    """``decode(lines) -> records``: {"targets": [...]} plus {"pivots": {lang: text}} if asked.

    The pivot texts are the inputs the ensemble's pivot components actually read in the run
    (``return_provenance=True``).  ``union`` and (with pivots) ``direct`` run ``method="mbr"``, whose
    candidates are each component's own beam-search 1-best: union keeps all K of them as targets (in
    component order, duplicates kept), self-distillation the direct component's.
    """
    from ...decoding.api import translate

    pivots = cfg.pivots_for(src, tgt)
    common = {"beam_size": cfg.beam_size, "length_penalty": cfg.length_penalty, "truncate": cfg.truncate,
              **dict(cfg.translate_options)}
    if cfg.max_new_tokens is not None:
        common["max_new_tokens"] = cfg.max_new_tokens
    if cfg.batch_size is not None:
        common["batch_size"] = cfg.batch_size
    common = _translate_kwargs(translate, common)
    method, use_pivots = cfg.method, pivots
    if cfg.method == "union" or (cfg.method == "direct" and with_pivots):
        method = "mbr"
    elif cfg.method == "direct":
        use_pivots = []
    elif cfg.method == "pivot":
        use_pivots = pivots[:1]
    provenance = with_pivots or method != cfg.method
    n_models = len(model) if isinstance(model, (list, tuple)) else 1

    def decode(lines: list[str]) -> list[dict]:
        results = translate(model, tokenizer, lines, src_lang=src, tgt_lang=tgt, pivots=list(use_pivots),
                            method=method, return_provenance=provenance, **common)
        records = []
        for line, r in zip(lines, results):
            comps = {c.name: c for c in r.components}
            if not line.strip():  # empty source: empty output, no components (skipped in training)
                targets = [""] * ((1 + len(use_pivots)) * n_models if cfg.method == "union" else 1)
            elif cfg.method == "union":
                targets = [c.candidates[0] if c.candidates else "" for c in r.components]
            elif method != cfg.method:  # direct through mbr's candidates (decoder-only: the first prompt's)
                first = next(c for c in r.components if not c.name.startswith("pivot:"))
                targets = [first.candidates[0]]
            else:
                targets = [r.text]
            rec = {"targets": targets}
            if with_pivots:
                rec["pivots"] = {p: comps[f"pivot:{p}"].input if line.strip() else "" for p in use_pivots}
            records.append(rec)
        return records

    return decode
