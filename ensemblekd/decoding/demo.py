"""MT part of ``make demo``: direct / pivot / EBBS zero-shot de→fr with the model shipped in the repo.

Runs on the first 200 sentences of Multi30k test_2016_flickr (embedded in ``ensemblekd/data``) with the
English-centric model trained by ``examples/zeroshot_mt/train.py`` (``models/m30k-zeroshot``), prints a
BLEU/chrF table, the wall time of each method and a few translations side by side.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

_DATA = Path(__file__).resolve().parent.parent / "data" / "multi30k_sample"
_CHECKOUT_MODEL = Path(__file__).resolve().parents[2] / "models" / "m30k-zeroshot"   # a source checkout
_INSTALLED_MODEL = Path(__file__).resolve().parents[1] / "_models" / "m30k-zeroshot"  # a wheel (setup.py)

# (label, keyword arguments of ensemblekd.translate)
METHODS = (
    ("direct (zero-shot)", dict(method="direct")),
    ("pivot via en", dict(method="pivot", pivots=("en",))),
    ("pivot via cs", dict(method="pivot", pivots=("cs",))),
    ("EBBS: direct + en + cs", dict(method="ebbs", pivots=("en", "cs"))),
)


def model_dir() -> Path:
    """``$ENSEMBLEKD_MODEL`` when set, else the shipped model: in the source checkout, or installed with the
    package by a non-editable install."""
    if os.environ.get("ENSEMBLEKD_MODEL"):
        return Path(os.environ["ENSEMBLEKD_MODEL"])
    return _CHECKOUT_MODEL if (_CHECKOUT_MODEL / "config.json").is_file() else _INSTALLED_MODEL


def read_sample(lang: str, split: str = "test_2016_flickr.200") -> list[str]:
    return (_DATA / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()


def run_demo(quiet: bool = False, *, src: str = "de", tgt: str = "fr", limit: int | None = None,
             beam_size: int = 5, examples: int = 3) -> list[dict]:
    """Translate the embedded sample with each method of ``METHODS``; print and return the scores."""
    path = model_dir()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"MT demo: no model at {path} (expected config.json; train and export one with "
            "examples/zeroshot_mt/train.py and export.py, or set ENSEMBLEKD_MODEL)")
    import sacrebleu
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding import translate

    sources, refs = read_sample(src), read_sample(tgt)
    if limit is not None:
        sources, refs = sources[:limit], refs[:limit]
    t0 = time.perf_counter()
    from .._runtime import quiet_hf_progress

    with quiet_hf_progress(True):  # transformers' "Loading weights" bar is noise for a 7.6M-parameter model
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0

    print(f"\n== Zero-shot MT demo: {src}→{tgt}, {len(sources)} sentences of test_2016_flickr, beam {beam_size} ==")
    print(f"model: {path} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"loaded in {load_s:.1f} s)")
    rows, outputs = [], {}
    for label, kwargs in METHODS:
        t0 = time.perf_counter()
        result = translate(model, tokenizer, sources, src_lang=src, tgt_lang=tgt, beam_size=beam_size,
                           progress=not quiet, **kwargs)
        seconds = time.perf_counter() - t0
        hyps = [r.text for r in result]
        outputs[label] = hyps
        rows.append(dict(method=label, bleu=sacrebleu.corpus_bleu(hyps, [refs]).score,
                         chrf=sacrebleu.corpus_chrf(hyps, [refs]).score, seconds=seconds))

    width = max(len(r["method"]) for r in rows)
    print(f"\n| {'method':<{width}} |  BLEU |  chrF | time (s) |")
    print(f"|{'-' * (width + 2)}|------:|------:|---------:|")
    for r in rows:
        print(f"| {r['method']:<{width}} | {r['bleu']:5.1f} | {r['chrf']:5.1f} | {r['seconds']:8.1f} |")
    for i in range(min(examples, len(sources))):
        print(f"\n[{i + 1}] {src}: {sources[i]}\n    ref: {refs[i]}")
        for label, hyps in outputs.items():
            print(f"    {label}: {hyps[i]}")
    sys.stdout.flush()
    return rows
