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

Decoder-only models (``config.is_encoder_decoder`` false): the components are prompts
(``translate_options["prompts"]``, the templates; pivots in the first one), the translation is the
continuation's first line (``stop_at_newline``, ``stop_strings``, ``chat`` as in
:func:`ensemblekd.decoding.api.translate`), and the student, a causal LM, is trained on the source in the FIRST
template continued by the teacher's output, the prompt masked (:mod:`.causal`); every loss works the same way.

Pipeline, all under ``out_dir`` and resumable at every stage:

1. ``decode/<src>-<tgt>/``: the teacher outputs, decoded shard by shard
   (:mod:`ensemblekd.distill.mt.shards`; a killed run continues where it stopped);
2. ``train_state/``: the training engine's checkpoints (:func:`.trainer.train_student`), pruned when the
   student is saved unless ``train.keep_state``;
3. ``student/``: the student as a standard Hugging Face checkpoint (``save_pretrained``) with its
   tokenizer, loadable by :func:`ensemblekd.translate` like the base model.

The stages' code: the configuration :mod:`.config`; the teacher's decode function :mod:`.decode`, run shard by
shard across the ranks by :func:`.shards.decode_all`; the training examples :mod:`.examples`; training
:mod:`.trainer`.  This module runs them in order and records the finished run.

Per direction the pivots are the given pivot languages minus the direction's own two languages,
so ``pivots=("en", "de", "fr", "cs")`` means "every other language" for each direction.  The
student's training inputs come from the same language adapter the decoder uses, so it learns
exactly the encoder input and decoder prompt it will be given at decoding time.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..._runtime import atomic_write_text, dist_info, quiet_hf_progress, resolve_device
from .config import DistillMTConfig
from .decode import make_decoder
from .examples import build_examples, check_sources
from .shards import ShardedOutputs, decode_all
from .teachers import check_teacher_folders, load_teachers
from .trainer import ArchitectureMismatchError, train_student

# DistillMTConfig, build_examples, check_sources, decode_all: their own modules' names, imported here (also by tests)
__all__ = ["DistillMTResult", "distill_mt", "model_digest"]

DONE = "ensemblekd_distill.json"
# translate() options that shape a decoder-only model's language adapter (prompts go to the examples)
DECODER_ONLY_OPTIONS = ("chat", "stop_at_newline", "stop_strings")


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


def _load_student(model_path: Path, student_path: Optional[Path], base):
    from ..._runtime import auto_model_class

    path = student_path or model_path
    student = auto_model_class(base.config).from_pretrained(path)
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


def distill_mt(model_path: str | os.PathLike, sources: Mapping[str, Sequence[str]], out_dir: str | os.PathLike,
               config: DistillMTConfig, *, student_path: Optional[str | os.PathLike] = None,
               quiet: bool = False, source_names: Optional[Mapping[str, str]] = None,
               teacher_paths: Optional[Sequence[str | os.PathLike]] = None) -> DistillMTResult:
    """Decode ``sources[src]`` for every direction with the teacher, train the student, save it.

    Under ``torchrun`` / ``accelerate launch`` the decoding shards are split across the ranks
    (:func:`.shards.decode_all`) and the student is trained with DDP on the same ranks; only rank 0 writes the
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
    from transformers import AutoConfig, AutoTokenizer

    from ..._runtime import auto_model_class
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
    options = dict(config.translate_options)
    lm_options = {k: options[k] for k in DECODER_ONLY_OPTIONS if k in options}
    templates = list(options.get("prompts") or [None])
    model_config = AutoConfig.from_pretrained(model_path)
    if (lm_options or options.get("prompts")) and getattr(model_config, "is_encoder_decoder", False):
        raise ValueError(f"--model {model_path}: an encoder-decoder model; --prompt, --stop, --no-stop-at-newline "
                         "and --chat are for decoder-only language models")
    with quiet_hf_progress(quiet):
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        base = auto_model_class(model_config).from_pretrained(model_path).eval()
    adapter = get_adapter(base, tokenizer, **lm_options)
    for s, t in config.directions:
        adapter.check_source(s, "--src/--directions")
        adapter.check(t, "--tgt/--directions")
        for p in config.pivots_for(s, t):
            adapter.check(p, "--pivots")
    if all(not any(x.strip() for x in sources[s]) for s, _ in config.directions):
        raise ValueError("empty training set: the source files hold no non-empty line")
    check_sources(adapter, sources, config.directions, names=source_names, truncate=config.truncate,
                  templates=templates)
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
                           make_decoder(models if several else base, tokenizer, config, s, t, with_teacher)))
    all_records = decode_all(shard_sets, quiet=quiet)

    examples, skipped = [], 0
    for (s, t), records in zip(config.directions, all_records):
        teacher_pivots = list(records[0].get("pivots", {})) if records else []
        exs, n_skip = build_examples(adapter, tokenizer, s, t, list(sources[s]), records, teacher_pivots,
                                      with_teacher, truncate=config.truncate, templates=templates)
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
                           checkpoint_dir=out_dir / "train_state",
                           stop_strings=getattr(adapter, "stop_strings", ()))
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
