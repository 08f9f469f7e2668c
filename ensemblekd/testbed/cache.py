"""``translate`` calls cached on disk in line chunks, keyed by the model, the decoding settings and the source
lines (the testbed's benchmark and its variants share the first legs and every output through it)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .._runtime import atomic_write_text

__all__ = ["Runner", "output_settings", "chunk_path", "lines_digest", "read_cached", "read_cached_chunk"]


def output_settings(model: Path, beam: int, length_penalty: float, restrict_vocab: bool) -> dict:
    """What a cached output depends on: the model (config + weight files) and the decoding settings.
    ``distill.py --reuse-outputs`` reads the same record to reuse this benchmark's outputs."""
    import hashlib

    weights = hashlib.sha1((model / "config.json").read_bytes())
    weights.update(str(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                              for f in model.glob("*.safetensors"))).encode())
    return dict(model=weights.hexdigest(), beam=beam, length_penalty=length_penalty, restrict_vocab=restrict_vocab)


def chunk_path(outputs: Path, split: str, name: str, start: int, stop: int) -> Path:
    return outputs / f"{split}.{name}.{start}-{stop}.json"


def lines_digest(lines: list[str]) -> str:
    import hashlib

    return hashlib.sha1("\n".join(lines).encode("utf-8")).hexdigest()


def read_cached(outputs: Path, split: str, name: str, sources: list[str], chunk: int, settings: dict):
    """(texts, seconds) of job ``name`` on ``sources`` from the cache, or None if a chunk is missing or was
    decoded from other source lines or with other settings (model, beam, length penalty, vocabulary restriction)."""
    hyps, seconds = [], 0.0
    for start in range(0, len(sources), chunk):
        stop = min(len(sources), start + chunk)
        part = read_cached_chunk(outputs, split, name, sources[start:stop], start, settings)
        if part is None:
            return None
        hyps += part[0]
        seconds += part[1]
    return hyps, seconds


class Runner:
    """Cached ``translate`` calls of one split: ``run(name, sources, **kwargs) -> (texts, seconds)``.

    ``args``: ``model`` (path), ``out``, ``beam``, ``length_penalty``, ``batch_size``, ``device``,
    ``restrict_vocab``, ``quiet`` and optionally ``chunk_lines`` (default 500).  Every job is decoded and cached
    in chunks of ``chunk_lines`` lines (``OUT/outputs/<split>.<job>.<a>-<b>.json``), so a run on more lines
    reuses the chunks a shorter run decoded, and a killed run loses at most one chunk."""

    def __init__(self, model, tokenizer, split: str, args):
        self.model, self.tokenizer, self.split, self.args = model, tokenizer, split, args
        self.chunk_lines = int(getattr(args, "chunk_lines", None) or 500)
        # a cached output is reused only under the same model and decoding settings
        self.settings = output_settings(args.model, args.beam, args.length_penalty, args.restrict_vocab)

    def run(self, name: str, sources: list[str], **kwargs) -> tuple[list[str], float]:
        from ensemblekd import translate

        outputs, chunk = self.args.out / "outputs", self.chunk_lines
        hyps, seconds = [], 0.0
        for start in range(0, len(sources), chunk):
            stop = min(len(sources), start + chunk)
            cached = read_cached_chunk(outputs, self.split, name, sources[start:stop], start, self.settings)
            if cached is None:
                part = dict(kwargs)
                if part.get("pivot_texts") is not None:
                    part["pivot_texts"] = {k: v[start:stop] for k, v in part["pivot_texts"].items()}
                t0 = time.perf_counter()
                result = translate(self.model, self.tokenizer, sources[start:stop], beam_size=self.args.beam,
                                   length_penalty=self.args.length_penalty, batch_size=self.args.batch_size,
                                   device=self.args.device, restrict_vocab=self.args.restrict_vocab,
                                   progress=not self.args.quiet, **part)
                cached = ([r.text for r in result], time.perf_counter() - t0)
                if len(cached[0]) != stop - start:
                    raise RuntimeError(f"{name}: {len(cached[0])} outputs for {stop - start} sources")
                outputs.mkdir(parents=True, exist_ok=True)
                atomic_write_text(chunk_path(outputs, self.split, name, start, stop),
                                  json.dumps(dict(n=stop - start, src_sha=lines_digest(sources[start:stop]),
                                                  settings=self.settings, seconds=cached[1], hyps=cached[0]),
                                             ensure_ascii=False))
            hyps += cached[0]
            seconds += cached[1]
        return hyps, seconds


def read_cached_chunk(outputs: Path, split: str, name: str, sources: list[str], start: int, settings: dict):
    path = chunk_path(outputs, split, name, start, start + len(sources))
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if (record.get("n") != len(sources) or record.get("src_sha") != lines_digest(sources)
            or record.get("settings") != settings):
        return None
    return record["hyps"], record["seconds"]
