"""Sharded, resumable, atomic decoding of a list of source lines.

Decoding the training set with an ensemble is the slow half of ensemble-then-distill, so it
must survive being killed.  :func:`decode_sharded` cuts the sources into consecutive shards of
``shard_size`` lines and writes the outputs of shard ``i`` to ``shard-{i:05d}.jsonl`` in one
atomic step (a temporary file in the same directory, flushed and fsync'ed, then
``os.replace``).  A shard file therefore either holds all of its lines or does not exist, and a
killed run resumed with the same arguments decodes only the shards that are missing: no line
is lost or duplicated, and the result equals that of one uninterrupted run.

``manifest.json`` records the run's configuration (decoding method, model, languages, ...),
the number of sources, the shard size and a SHA-256 of the sources.  Resuming with anything
different raises :class:`ShardConfigError` naming the differing keys, instead of mixing outputs
of two configurations.

Each output record is any JSON value (a string, a list of strings for union distillation, a
dict); records are stored one JSON document per line, so outputs that contain newlines cannot
shift the alignment with the sources.

:func:`decode_all` decodes several shard sets (one per direction) at once across the ranks of a launch: task j
(interleaved over the sets) belongs to rank j % world_size, and every rank waits for the others' shards.

Cost: O(N) JSON lines written once each; resuming reads the completed shards once.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..._runtime import atomic_write_text as _atomic_write_text
from ..._runtime import dist_info

__all__ = ["ShardConfigError", "ShardedOutputs", "decode_sharded", "decode_all", "sources_digest"]

FORMAT = "ensemblekd-shards/1"
MANIFEST = "manifest.json"
_SHARD_RE = re.compile(r"^shard-(\d{5,})\.jsonl$")


class ShardConfigError(ValueError):
    """The output directory belongs to a run with another configuration, or is damaged."""


def sources_digest(sources: Sequence[str]) -> str:
    """SHA-256 of the source lines (each line length-prefixed, so line breaks cannot collide)."""
    h = hashlib.sha256()
    for line in sources:
        data = line.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _normalize(config: Mapping[str, Any]) -> dict:
    """JSON round trip (tuples become lists), so a config compares equal to its stored copy."""
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True))
    except TypeError as exc:
        raise TypeError(f"config must be JSON-serialisable: {exc}") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ShardedOutputs:
    """The shard directory of one decoding run.

    Args:
        out_dir: directory holding ``manifest.json`` and ``shard-*.jsonl`` (created if missing).
        sources: the N source lines (only their number and digest are stored).
        config: JSON-serialisable description of everything that determines the outputs.
        shard_size: lines per shard (the last shard may be shorter).

    Raises:
        ShardConfigError: ``out_dir`` holds a manifest of a different run.
    """

    def __init__(self, out_dir: str | os.PathLike, sources: Sequence[str], config: Mapping[str, Any],
                 shard_size: int = 256):
        if not isinstance(shard_size, int) or shard_size < 1:
            raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
        self.dir = Path(out_dir)
        self.sources = list(sources)
        self.shard_size = shard_size
        self.manifest = {
            "format": FORMAT,
            "config": _normalize(config),
            "num_sources": len(self.sources),
            "shard_size": shard_size,
            "sources_sha256": sources_digest(self.sources),
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        self._check_or_write_manifest()
        self._remove_stale_temporaries()

    # ------------------------------------------------------------------ layout
    @property
    def num_shards(self) -> int:
        return -(-len(self.sources) // self.shard_size)

    def shard_path(self, i: int) -> Path:
        return self.dir / f"shard-{i:05d}.jsonl"

    def shard_range(self, i: int) -> tuple[int, int]:
        start = i * self.shard_size
        return start, min(start + self.shard_size, len(self.sources))

    def is_done(self, i: int) -> bool:
        return self.shard_path(i).is_file()

    def pending(self) -> list[int]:
        """Indices of the shards not written yet, in order."""
        return [i for i in range(self.num_shards) if not self.is_done(i)]

    # ---------------------------------------------------------------- manifest
    def _check_or_write_manifest(self) -> None:
        path = self.dir / MANIFEST
        if not path.exists():
            stray = [p.name for p in self.dir.iterdir() if _SHARD_RE.match(p.name)]
            if stray:
                raise ShardConfigError(
                    f"{self.dir}: holds shard files ({stray[0]}, ...) but no {MANIFEST}; refusing to mix "
                    "outputs of an unknown run; use an empty directory")
            _atomic_write_text(path, json.dumps(self.manifest, indent=2, sort_keys=True) + "\n")
            return
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ShardConfigError(f"{path}: unreadable manifest ({exc})") from None
        if old == self.manifest:
            return
        diffs = []
        for key in ("format", "num_sources", "shard_size", "sources_sha256"):
            if old.get(key) != self.manifest[key]:
                diffs.append(f"{key}: {old.get(key)!r} (stored) != {self.manifest[key]!r} (now)")
        old_cfg, new_cfg = old.get("config") or {}, self.manifest["config"]
        for key in sorted(set(old_cfg) | set(new_cfg)):
            if old_cfg.get(key) != new_cfg.get(key):
                diffs.append(f"config.{key}: {old_cfg.get(key)!r} (stored) != {new_cfg.get(key)!r} (now)")
        raise ShardConfigError(
            f"{path}: this directory holds a run with a different configuration; refusing to resume "
            f"({'; '.join(diffs)}). Use another output directory or delete this one.")

    def _remove_stale_temporaries(self) -> None:
        # a killed writer may leave ".shard-00003.jsonl.tmp-<pid>"; it never counts as done.  Another rank
        # of the same launch may be writing one right now: only files of processes that are gone are removed.
        for p in self.dir.iterdir():
            if p.name.startswith(".") and ".tmp-" in p.name:
                pid = p.name.rsplit(".tmp-", 1)[1]
                if not (pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid))):
                    p.unlink(missing_ok=True)

    # -------------------------------------------------------------- read/write
    def write_shard(self, i: int, records: Sequence[Any]) -> None:
        start, stop = self.shard_range(i)
        if len(records) != stop - start:
            raise ValueError(
                f"shard {i} (lines {start + 1}-{stop}): decoder returned {len(records)} outputs for "
                f"{stop - start} sources")
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        _atomic_write_text(self.shard_path(i), text)

    def read_shard(self, i: int) -> list[Any]:
        path = self.shard_path(i)
        start, stop = self.shard_range(i)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) != stop - start:
            raise ShardConfigError(f"{path}: {len(lines)} lines, expected {stop - start}; the shard is damaged")
        out = []
        for n, line in enumerate(lines, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ShardConfigError(f"{path}:{n}: not a JSON record ({exc})") from None
        return out

    def load(self) -> list[Any]:
        """All N records in source order; raises if a shard is missing."""
        missing = self.pending()
        if missing:
            raise ShardConfigError(f"{self.dir}: {len(missing)} of {self.num_shards} shards not decoded yet "
                                   f"(first missing: {self.shard_path(missing[0]).name})")
        out: list[Any] = []
        for i in range(self.num_shards):
            out.extend(self.read_shard(i))
        return out

    def run(self, decode: Callable[[list[str]], Sequence[Any]], *, quiet: bool = False,
            desc: str = "decode", rank: int = 0, world_size: int = 1,
            shards: Sequence[int] | None = None) -> list[Any] | None:
        """Decode this rank's pending shards with ``decode(lines) -> records``.

        Shard ``i`` belongs to rank ``i % world_size``: ranks never write the same shard, and since the
        files are per shard index a resume may use another world size.  ``shards`` limits the work to
        those indices (e.g. the first k shards).  Returns all N records in source order when every
        shard is done (always so for ``world_size == 1`` and ``shards=None``), else ``None``.
        """
        self.decode_pending(decode, quiet=quiet, desc=desc, rank=rank, world_size=world_size, shards=shards)
        return self.load() if not self.pending() else None

    def my_pending(self, rank: int = 0, world_size: int = 1, shards: Sequence[int] | None = None) -> list[int]:
        """The pending shards of ``rank`` (``i % world_size == rank``), within ``shards`` if given."""
        if not (0 <= rank < world_size):
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        wanted = None if shards is None else set(shards)
        return [i for i in self.pending() if i % world_size == rank and (wanted is None or i in wanted)]

    def decode_pending(self, decode: Callable[[list[str]], Sequence[Any]], *, quiet: bool = False,
                       desc: str = "decode", rank: int = 0, world_size: int = 1,
                       shards: Sequence[int] | None = None) -> int:
        """Decode and write this rank's pending shards; returns how many were written."""
        mine = self.my_pending(rank, world_size, shards)
        if not mine:
            return 0
        from tqdm.auto import tqdm

        total = sum(self.shard_range(i)[1] - self.shard_range(i)[0] for i in mine)
        bar = tqdm(total=total, desc=desc if world_size == 1 else f"{desc} [rank {rank}]", unit="line",
                   disable=quiet, dynamic_ncols=True)
        try:
            for i in mine:
                start, stop = self.shard_range(i)
                self.write_shard(i, list(decode(self.sources[start:stop])))
                bar.update(stop - start)
        finally:
            bar.close()
        return len(mine)


def decode_sharded(sources: Sequence[str], decode: Callable[[list[str]], Sequence[Any]],
                   out_dir: str | os.PathLike, *, config: Mapping[str, Any], shard_size: int = 256,
                   quiet: bool = False, desc: str = "decode") -> list[Any]:
    """Decode ``sources`` shard by shard into ``out_dir``, resuming a killed run; see the module doc.

    ``decode`` maps a list of source lines to as many JSON-serialisable records.  Returns the N
    records in source order.
    """
    return ShardedOutputs(out_dir, sources, config, shard_size).run(decode, quiet=quiet, desc=desc)


def decode_all(shard_sets: Sequence[tuple[ShardedOutputs, object]], *, quiet: bool = False,
               poll_s: float = 2.0) -> list[list]:
    """Decode the pending shards of every (shards, decode) pair across the ranks of this launch.

    Tasks (direction, shard) are interleaved over the directions and task j belongs to rank
    j % world_size; each rank then waits (polling the shard folders) until every shard is written,
    and returns all records.  Single process: just decodes everything.
    """
    from tqdm.auto import tqdm

    rank, world, _ = dist_info()
    n = max((sh.num_shards for sh, _ in shard_sets), default=0)
    tasks = [(d, i) for i in range(n) for d, (sh, _) in enumerate(shard_sets) if i < sh.num_shards]
    mine = [(d, i) for j, (d, i) in enumerate(tasks) if j % world == rank and not shard_sets[d][0].is_done(i)]
    total = sum(shard_sets[d][0].shard_range(i)[1] - shard_sets[d][0].shard_range(i)[0] for d, i in mine)
    desc = "decode" if world == 1 else f"decode [rank {rank}/{world}]"
    with tqdm(total=total, desc=desc, unit="line", disable=quiet or not mine, dynamic_ncols=True) as bar:
        for d, i in mine:
            sh, decode = shard_sets[d]
            start, stop = sh.shard_range(i)
            sh.write_shard(i, list(decode(sh.sources[start:stop])))
            bar.update(stop - start)
    waited = False
    while any(sh.pending() for sh, _ in shard_sets):
        if not waited and not quiet:
            print(f"distill: rank {rank} waits for the other ranks' shards", file=sys.stderr)
        waited = True
        time.sleep(poll_s)
    return [sh.load() for sh, _ in shard_sets]
