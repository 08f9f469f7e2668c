"""MT ensemble-then-distill: decode with an ensemble, fine-tune one student on its outputs, save it.

Wen et al. (AAAI 2025), Sec. 4: the zero-shot directions of a multilingual model are decoded
with EBBS (direct + pivot components of the model itself) on monolingual source text, and the
base model is fine-tuned on the (source, EBBS output) pairs with sequence-level KD (Kim & Rush,
2016); the student then decodes with plain beam search at single-model cost.  Baselines with
the same budget (``method``):

* ``direct`` (alias ``self``): self-distillation, the model's own direct beam-search outputs;
* ``union``: the outputs of every component (direct, and pivot through each pivot language) as
  separate targets, i.e. K training pairs per source;
* any other :func:`ensemblekd.decoding.api.translate` method (``ebbs``, ``average``, ``vote``,
  ``mbr``; ``pivot`` goes through the first pivot language) as the teacher.

Several teacher models (``teacher_paths``, CLI ``--teacher-model`` repeated; one tokenizer and vocabulary):
the ensemble is every model's direct and pivot paths (:mod:`ensemblekd.decoding.multimodel`), decoded with
``ebbs``/``average``/``vote``/``mbr``, or ``union`` (every component's output a target); the student starts
from ``model_path`` (the CLI: the teacher chosen with ``--student-from``).  Word-level losses take one teacher.

With ``train.loss`` in ``kl|rkl|js|tvd`` the teacher is white-box: the base model's components
(direct, and pivot through each pivot language, reading the pivot texts the ensemble produced),
averaged (:mod:`ensemblekd.distill.mt.word_kd`).

Pipeline, all under ``out_dir`` and resumable at every stage:

1. ``decode/<src>-<tgt>/``: the teacher outputs, decoded shard by shard
   (:mod:`ensemblekd.distill.mt.shards`; a killed run continues where it stopped);
2. ``train_state/``: the training engine's checkpoints (:func:`.trainer.train_student`), pruned when the
   student is saved unless ``train.keep_state``;
3. ``student/``: the student as a standard Hugging Face checkpoint (``save_pretrained``) with its
   tokenizer, loadable by :func:`ensemblekd.translate` like the base model.

Per direction the pivots are the given pivot languages minus the direction's own two languages,
so ``pivots=("en", "de", "fr", "cs")`` means "every other language" for each direction.  The
student's training inputs come from the same language adapter the decoder uses, so it learns
exactly the encoder input and decoder prompt it will be given at decoding time.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..._runtime import atomic_write_text, dist_info, quiet_hf_progress, resolve_device
from .data import TrainExample
from .shards import ShardedOutputs
from .teachers import check_teacher_folders, check_teachers, load_teachers
from .trainer import ArchitectureMismatchError, TrainConfig, train_student

__all__ = ["DistillMTConfig", "DistillMTResult", "distill_mt", "parse_direction", "TEACHER_METHODS",
           "SourceError", "model_digest", "build_examples", "check_sources", "decode_all"]

TEACHER_METHODS = ("ebbs", "average", "vote", "mbr", "pivot", "direct", "self", "union")
DONE = "ensemblekd_distill.json"


def parse_direction(text: str) -> tuple[str, str]:
    """``"de-fr"`` -> ``("de", "fr")``.  Codes may not contain ``-`` (NLLB's ``deu_Latn`` is fine)."""
    parts = text.split("-")
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise ValueError(f"direction {text!r}: expected SRC-TGT with two different language codes, e.g. de-fr")
    return parts[0], parts[1]


class SourceError(ValueError):
    """A source line that cannot be decoded (too long for the model), named by file and line."""


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


@dataclass
class DistillMTResult:
    student_dir: Path
    num_pairs: int
    skipped_empty: int
    steps: int
    first_losses: list[float]
    last_losses: list[float]


def model_digest(path: Path) -> str:
    """SHA-256 over config.json and the weight files: a resumed decode must use the same model."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        if name == "config.json" or name.endswith((".safetensors", ".bin")):
            h.update(name.encode())
            with open(path / name, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def _translate_kwargs(translate, options: dict) -> dict:
    """Pass ``quiet``/``progress`` only if this translate() has them (the shard bar is the progress)."""
    params = inspect.signature(translate).parameters
    out = dict(options)
    if "quiet" in params:
        out.setdefault("quiet", True)
    elif "progress" in params:
        out.setdefault("progress", False)
    return out


def _make_decoder(model, tokenizer, cfg: DistillMTConfig, src: str, tgt: str, with_pivots: bool):
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
            elif method != cfg.method:  # direct through mbr's candidates
                targets = [comps["direct"].candidates[0]]
            else:
                targets = [r.text]
            rec = {"targets": targets}
            if with_pivots:
                rec["pivots"] = {p: comps[f"pivot:{p}"].input if line.strip() else "" for p in use_pivots}
            records.append(rec)
        return records

    return decode


def _target_ids(adapter, tokenizer, texts: Sequence[str], tgt_code: str, eos: int) -> list[tuple[int, ...]]:
    """Target-side token ids of each text + EOS (Marian's target vocabulary, no language prefix).

    Text is data, as for sources: a special or language token's string inside a target (``</s>``, ``__en__``,
    ``>>en<<``) is segmented into ordinary pieces, never into the control token (fast tokenizers: the
    adapter's text-only backend, one vocabulary for both sides; slow ones: ``split_special_tokens``)."""
    texts = list(texts)
    if getattr(tokenizer, "backend_tokenizer", None) is not None:
        ids = adapter._tokenize(texts, None, add_special_tokens=False)
    else:
        if adapter.family == "marian":  # MarianTokenizer reads a leading ">>xx<<" as a code (see MarianAdapter)
            texts = [" " + t if t.lstrip().startswith(">>") else t for t in texts]
        saved = getattr(tokenizer, "tgt_lang", None)
        if hasattr(tokenizer, "tgt_lang"):
            tokenizer.tgt_lang = tgt_code
        try:
            ids = tokenizer(text_target=texts, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        finally:
            if saved is not None:
                tokenizer.tgt_lang = saved
    return [tuple(int(i) for i in row) + (eos,) for row in ids]


def check_sources(adapter, sources: Mapping[str, Sequence[str]], directions, *, names=None,
                  truncate: bool = False) -> None:
    """Before any decoding: every non-empty source line must fit the model's encoder, for every target
    language it is encoded for; the error names the file (``names[lang]``) and its line number."""
    limit = adapter.max_source_length
    if limit is None or truncate:
        return
    for s, t in directions:
        lines = sources[s]
        keep = [i for i, x in enumerate(lines) if x.strip()]
        for chunk in range(0, len(keep), 4096):
            idx = keep[chunk:chunk + 4096]
            for i, x in zip(idx, adapter.encode([lines[i] for i in idx], s, t)):
                if len(x) > limit:
                    where = (names or {}).get(s, f"sources[{s!r}]")
                    raise SourceError(f"{where}:{i + 1}: {len(x)} tokens, the model accepts {limit} "
                                      "(shorten or drop the line, or pass --truncate)")


def build_examples(adapter, tokenizer, src, tgt, sources, records, pivots, with_teacher, truncate=False):
    """TrainExamples for one direction; empty source lines are skipped (returned count).

    ``records[i]``: ``{"targets": [text, ...]}`` (one example per target) and, with ``with_teacher``,
    ``{"pivots": {lang: text}}`` for the ``pivots`` whose texts feed the white-box teacher's components.

    Sources were checked against the encoder's length by :func:`check_sources` (or are cut with
    ``truncate``); a target whose re-tokenisation no longer fits the decoder's positions is cut, with a
    warning.
    """
    import warnings

    keep = [i for i, s in enumerate(sources) if s.strip()]
    skipped = len(sources) - len(keep)
    if not keep:
        return [], skipped
    limit = adapter.max_source_length
    enc = adapter.encode([sources[i] for i in keep], src, tgt, max_length=limit if truncate else None)
    prompt = tuple(adapter.decoder_prompt(tgt))
    teacher_inputs = [[tuple(x)] for x in enc]
    if with_teacher:
        for p in pivots:
            pivot_enc = adapter.encode([records[i]["pivots"][p] for i in keep], p, tgt, max_length=limit)
            for row, x in zip(teacher_inputs, pivot_enc):
                row.append(tuple(x))
    out, cut = [], 0
    max_target = adapter.max_target_positions
    for j, i in enumerate(keep):
        for target in _target_ids(adapter, tokenizer, records[i]["targets"], tgt, adapter.eos_token_id):
            if max_target is not None and len(prompt) + len(target) - 1 > max_target:
                target = target[: max_target - len(prompt)] + (adapter.eos_token_id,)
                cut += 1
            out.append(TrainExample(tuple(enc[j]), prompt, target,
                                    tuple(teacher_inputs[j]) if with_teacher else ()))
    if cut:
        warnings.warn(f"{src}-{tgt}: {cut} target(s) longer than the decoder's {max_target} positions were cut")
    return out, skipped


def _load_student(model_path: Path, student_path: Optional[Path], base):
    from transformers import AutoModelForSeq2SeqLM

    path = student_path or model_path
    student = AutoModelForSeq2SeqLM.from_pretrained(path)
    if student_path is not None:
        a = (base.config.model_type, type(base).__name__, base.config.vocab_size)
        b = (student.config.model_type, type(student).__name__, student.config.vocab_size)
        if a != b:
            raise ArchitectureMismatchError(
                f"student checkpoint {student_path}: architecture (model_type, class, vocab) = {b}, but the "
                f"teacher {model_path} is {a}; the student must share the teacher's architecture and vocabulary")
    return student


def _summary(model_path, config: DistillMTConfig, digest: str, teachers: Sequence[str] = ()) -> dict:
    out = {"base_model_sha256": digest, "directions": [list(d) for d in config.directions],
           "pivots": list(config.pivots), "method": config.method, "beam_size": config.beam_size,
           "translate_options": dict(config.translate_options), "train": config.train.fingerprint()}
    if teachers:
        out["teachers_sha256"] = list(teachers)
    return out


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


def distill_mt(model_path: str | os.PathLike, sources: Mapping[str, Sequence[str]], out_dir: str | os.PathLike,
               config: DistillMTConfig, *, student_path: Optional[str | os.PathLike] = None,
               quiet: bool = False, source_names: Optional[Mapping[str, str]] = None,
               teacher_paths: Optional[Sequence[str | os.PathLike]] = None) -> DistillMTResult:
    """Decode ``sources[src]`` for every direction with the teacher, train the student, save it.

    Under ``torchrun`` / ``accelerate launch`` the decoding shards are split across the ranks
    (:func:`decode_all`) and the student is trained with DDP on the same ranks; only rank 0 writes the
    student, the summary and the logs.

    Args:
        model_path: the base model directory (``from_pretrained``), also the student's
            initialisation unless ``student_path`` is given, and the tokenizer's.
        teacher_paths: the teacher models (an ensemble of models sharing ``model_path``'s tokenizer and
            vocabulary; a folder given twice is loaded once); default: ``[model_path]``.
        sources: source-language code -> source lines (only monolingual text is needed).
        out_dir: working and output directory (see the module doc); rerunning resumes; rerunning a
            finished run returns its result without work.
        source_names: language -> file name, for error messages (``FILE:LINE``).

    Returns:
        :class:`DistillMTResult`; the student is in ``out_dir/student``.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ...decoding.languages import get_adapter

    device = resolve_device(config.train.device)
    info = dist_info()
    model_path, out_dir = Path(model_path), Path(out_dir)
    if not (model_path / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_path}: no config.json (expected a Hugging Face model directory)")
    for s, _ in config.directions:
        if s not in sources:
            raise ValueError(f"no source text for language {s!r} (direction {s}-...); got sources for "
                             f"{sorted(sources)}")
    teachers = [Path(p) for p in (teacher_paths or [model_path])]
    if len(teachers) != config.num_teachers:
        raise ValueError(f"teacher_paths holds {len(teachers)} models but the config has num_teachers="
                         f"{config.num_teachers}")
    several = [p.resolve() for p in teachers] != [model_path.resolve()]
    digest = model_digest(model_path)
    for p in teachers if several else []:
        if not (p / "config.json").is_file():
            raise FileNotFoundError(f"--teacher-model {p}: no config.json (expected a Hugging Face model directory)")
    teacher_digests = [model_digest(p) for p in teachers] if several else []
    student_dir = out_dir / "student"
    done = _finished(student_dir, _summary(model_path, config, digest, teacher_digests))
    if done is not None:
        return done
    if several:
        check_teacher_folders(model_path, teachers, config)
    with quiet_hf_progress(quiet):
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        base = AutoModelForSeq2SeqLM.from_pretrained(model_path).eval()
    adapter = get_adapter(base, tokenizer)
    for s, t in config.directions:
        adapter.check_source(s, "--src/--directions")
        adapter.check(t, "--tgt/--directions")
        for p in config.pivots_for(s, t):
            adapter.check(p, "--pivots")
    if all(not any(x.strip() for x in sources[s]) for s, _ in config.directions):
        raise ValueError("empty training set: the source files hold no non-empty line")
    check_sources(adapter, sources, config.directions, names=source_names, truncate=config.truncate)
    models = load_teachers(model_path, teachers, base, quiet) if several else [base]
    with quiet_hf_progress(quiet):
        student = _load_student(model_path, Path(student_path) if student_path else None, base)

    with_teacher = config.train.loss != "seqkd"
    for m in models:
        m.to(device)
    shard_sets = []
    for s, t in config.directions:
        shard_cfg = {"model_sha256": digest, "src": s, "tgt": t, "pivots": config.pivots_for(s, t),
                     "method": config.method, "beam_size": config.beam_size, "with_pivots": with_teacher,
                     "max_new_tokens": config.max_new_tokens, "length_penalty": config.length_penalty,
                     "translate_options": dict(config.translate_options)}
        if config.truncate:
            shard_cfg["truncate"] = True
        if several:
            shard_cfg["teachers_sha256"] = teacher_digests
        shard_sets.append((ShardedOutputs(out_dir / "decode" / f"{s}-{t}", list(sources[s]), shard_cfg,
                                          config.shard_size),
                           _make_decoder(models if several else base, tokenizer, config, s, t, with_teacher)))
    all_records = decode_all(shard_sets, quiet=quiet)

    examples, skipped = [], 0
    for (s, t), records in zip(config.directions, all_records):
        teacher_pivots = list(records[0].get("pivots", {})) if records else []
        exs, n_skip = build_examples(adapter, tokenizer, s, t, list(sources[s]), records, teacher_pivots,
                                      with_teacher, truncate=config.truncate)
        examples.extend(exs)
        skipped += n_skip
    if not examples:
        raise ValueError("empty training set: no (source, target) pair after decoding")
    if skipped and not quiet and info.is_main:
        print(f"distill: skipped {skipped} empty source line(s)", file=sys.stderr)

    teacher = models[0] if with_teacher else None     # white-box losses: one teacher (check_teachers)
    for m in models:
        if m is not teacher:
            m.to("cpu")
    result = train_student(student, examples, student_dir, config.train, pad_id=adapter.pad_token_id,
                           eos_id=adapter.eos_token_id, tokenizer=tokenizer, teacher=teacher, quiet=quiet,
                           checkpoint_dir=out_dir / "train_state")
    summary = {**_summary(model_path, config, digest, teacher_digests), "base_model": str(model_path),
               **({"teacher_models": [str(p) for p in teachers]} if several else {}), "num_pairs": len(examples),
               "skipped_empty_sources": skipped, "steps": result.steps, "world_size": info.world_size,
               "train_config": asdict(config.train), "losses": result.losses}
    finished = (student_dir / "config.json").is_file() and result.steps > 0
    if info.is_main and finished:
        from ...decoding.vocab import FILE_NAME, load_target_vocab, save_target_vocab

        given = config.translate_options.get("restrict_vocab")
        vocab = Path(given) if isinstance(given, (str, os.PathLike)) else model_path / FILE_NAME
        if vocab.is_file() or (vocab / FILE_NAME).is_file():   # the student decodes like its teacher
            save_target_vocab(load_target_vocab(vocab)[0], student_dir / FILE_NAME)
        atomic_write_text(student_dir / DONE, json.dumps(summary, indent=2) + "\n")
    return DistillMTResult(student_dir, len(examples), skipped, result.steps, result.losses[:5],
                           result.losses[-5:])


def _finished(student_dir: Path, wanted: dict) -> Optional[DistillMTResult]:
    """The result of a finished run with the same configuration; an error for one of another."""
    path = student_dir / DONE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    diffs = [k for k in wanted if stored.get(k) != wanted[k]]
    if diffs:
        raise ValueError(f"{student_dir}: holds a finished student of another configuration (differs in "
                         f"{', '.join(diffs)}); use another --out or delete that folder")
    losses = stored.get("losses", [])
    return DistillMTResult(student_dir, stored.get("num_pairs", 0), stored.get("skipped_empty_sources", 0),
                           stored.get("steps", 0), losses[:5], losses[-5:])
