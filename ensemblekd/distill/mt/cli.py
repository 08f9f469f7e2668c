"""``ensemblekd distill mt``: decode with an ensemble, train a student on its outputs, save it.

Registered into the ``distill`` group by :func:`register_mt`; the handler parses arguments into a
:class:`~ensemblekd.distill.mt.DistillMTConfig` and makes one call to
:func:`~ensemblekd.distill.mt.distill_mt`.  torch/transformers are imported only when it runs.
Several processes: ``torchrun --nproc_per_node N -m ensemblekd distill mt ...`` (or ``accelerate launch
-m ensemblekd distill mt ...``) splits the decoding shards across the ranks and trains with DDP.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register_mt", "read_sources"]


def register_mt(distill_sub) -> None:
    """Add the ``mt`` command to the ``distill`` sub-parsers."""
    p = distill_sub.add_parser(
        "mt", help="distill an MT ensemble (EBBS, ...) into one student",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Decode source text with an ensemble of a multilingual model's direct + pivot paths (or of "
                    "several models', --teacher-model repeated), "
                    "fine-tune a student initialised from the model on the outputs (sequence-level KD, or a "
                    "word-level loss), save it as a Hugging Face checkpoint in OUT/student. Rerunning the same "
                    "command resumes. Several processes: torchrun --nproc_per_node N -m ensemblekd distill mt ... "
                    "(decoding shards split across the ranks, then DDP training; rank 0 writes the results).")
    g = p.add_argument_group("teacher")
    g.add_argument("--model", help="base model directory (the teacher, and the student's init); or give the "
                                   "teachers with --teacher-model")
    g.add_argument("--teacher-model", action="append", default=None, metavar="PATH",
                   help="a teacher model directory; repeat for an ensemble of several models that share one tokenizer "
                        "and vocabulary (every model's direct and pivot paths; instead of --model)")
    g.add_argument("--student-from", type=int, default=0, metavar="N",
                   help="with --teacher-model: the student starts from the N-th teacher (0-based)")
    g.add_argument("--src", help="source language (with --tgt: one direction)")
    g.add_argument("--tgt", help="target language")
    g.add_argument("--directions", nargs="+", metavar="SRC-TGT",
                   help="several directions at once, e.g. de-fr fr-de (overrides --src/--tgt)")
    g.add_argument("--pivots", nargs="*", default=[],
                   help="pivot languages; per direction its own two languages are left out")
    g.add_argument("--method", default="ebbs",
                   choices=("ebbs", "average", "vote", "mbr", "pivot", "direct", "self", "union"),
                   help="teacher: an ensemble method, 'direct'/'self' (self-distillation) or 'union' "
                        "(every component's output as a separate target)")
    g.add_argument("--weights", type=float, nargs="+", default=None,
                   help="one weight per component (direct first, then each pivot's ranks); default: all 1")
    g.add_argument("--voting", default="sum", choices=("sum", "max", "count"), help="EBBS upper-level rule")
    g.add_argument("--mean", default="arithmetic", choices=("arithmetic", "geometric"),
                   help="averaging: mean of the components' distributions")
    g.add_argument("--pivot-nbest", type=int, default=1, help="m-best pivot translations as m components")
    g.add_argument("--no-direct", action="store_true", help="leave the direct path out of the ensemble")
    g.add_argument("--pivot-model", type=int, default=None, metavar="N",
                   help="with several --teacher-model: the N-th (0-based) translates into the pivots for every "
                        "teacher (default: each its own)")
    g.add_argument("--restrict-vocab", nargs="?", const=True, default=False, metavar="TABLE",
                   help="restrict outputs to the target language's vocabulary: <model>/ensemblekd_target_vocab.json, "
                        "or the JSON table TABLE (see `ensemblekd vocab build`)")
    g.add_argument("--beam", type=int, default=5, help="beam size of the teacher decoding")
    g.add_argument("--max-new-tokens", type=int, default=None, help="most generated tokens (default: the model's)")
    g.add_argument("--length-penalty", type=float, default=1.0,
                   help="beam score = log-probability / length ** this (teacher decoding)")
    g.add_argument("--batch-size", type=int, default=None, help="decoding batch size (sentences; default 16)")
    g.add_argument("--shard-size", type=int, default=256, help="sentences per decoding shard")
    g.add_argument("--truncate", action="store_true",
                   help="cut over-long source lines (with a warning) instead of refusing the file")
    from ...decoding.cli import add_decoder_only_options

    add_decoder_only_options(p.add_argument_group("decoder-only models (teacher and student a causal LM)"),
                             student=True)
    d = p.add_argument_group("data")
    d.add_argument("--sources", nargs="+", required=True, metavar="[LANG=]FILE",
                   help="source text, one sentence a line: FILE (in --src), LANG=FILE, or a path with {lang}")
    d.add_argument("--out", required=True, help="output/working directory")
    t = p.add_argument_group("student training (Hugging Face Seq2SeqTrainer)")
    t.add_argument("--student", help="initialise the student from this checkpoint instead of --model "
                                     "(same architecture and vocabulary)")
    t.add_argument("--loss", default="seqkd", choices=("seqkd", "kl", "rkl", "js", "tvd", "skl", "srkl", "gkd", "llmr"),
                   help="seqkd: cross-entropy on the teacher outputs; kl|rkl|js|tvd: word-level f-divergence "
                        "against the averaged components (white-box teacher); skl|srkl: skew KL / skew reverse KL "
                        "(DistiLLM); gkd: on-policy mixing with the generalized JSD (GKD); llmr: policy gradient "
                        "with the teacher-induced reward (LLMR)")
    t.add_argument("--epochs", type=int, default=1, help="passes over the distilled pairs")
    t.add_argument("--max-steps", type=int, default=None, help="optimizer updates (overrides --epochs)")
    t.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (AdamW, linear warm-up and decay)")
    t.add_argument("--warmup-steps", type=int, default=0, help="updates of linear learning-rate warm-up")
    t.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    t.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per batch and process")
    t.add_argument("--grad-accum", type=int, default=1, help="batches accumulated per update")
    t.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing of the seqkd cross-entropy")
    t.add_argument("--kd-max-new-tokens", type=int, default=64,
                   help="student samples (rkl/js/tvd/srkl/gkd/llmr): most tokens")
    t.add_argument("--kd-temperature", type=float, default=1.0, help="student samples: sampling temperature")
    t.add_argument("--kd-top-p", type=float, default=1.0, help="student samples: nucleus (top-p) mass")
    t.add_argument("--skew-alpha", type=float, default=0.1, help="skl/srkl: the skew alpha in [0, 1]")
    t.add_argument("--gkd-lambda", type=float, default=0.5,
                   help="gkd: probability that a batch is sampled from the student (else: the teacher's outputs)")
    t.add_argument("--gkd-beta", type=float, default=0.5,
                   help="gkd: generalized JSD beta (0: KL(teacher||student), 1: KL(student||teacher))")
    t.add_argument("--llmr-next", default="softmax", choices=("softmax", "max", "current"),
                   help="llmr: next-state value: the expectation under the next state's teacher policy (softmax), "
                        "the max of the teacher's scores (max), or the next scores under the current state's "
                        "policy (current: the official LMReward code's softmax variant)")
    t.add_argument("--llmr-reward", default="dense", choices=("dense", "sparse"),
                   help="llmr: return-to-go per step (dense) or the whole return at every step (sparse)")
    t.add_argument("--llmr-no-baseline", action="store_true", help="llmr: no baseline (default: the teacher's value)")
    t.add_argument("--llmr-scale", type=float, default=1.0, help="llmr: advantages are divided by this")
    t.add_argument("--llmr-clip", type=float, default=None, help="llmr: advantages clipped to [-C, C]")
    t.add_argument("--save-every", type=int, default=200, help="steps between resumable checkpoints")
    t.add_argument("--logging-steps", type=int, default=50, help="steps between logged losses")
    t.add_argument("--seed", type=int, default=0, help="seed of batch order, dropout and student samples")
    prec = t.add_mutually_exclusive_group()
    prec.add_argument("--bf16", action="store_true", help="bf16 mixed precision")
    prec.add_argument("--fp16", action="store_true", help="fp16 mixed precision (GPU)")
    t.add_argument("--report-to", nargs="+", default=["none"],
                   help="the engine's logging integrations: none, tensorboard, wandb, ...")
    t.add_argument("--keep-state", action="store_true",
                   help="keep the trainer state (optimizer, checkpoints) of a finished run")
    t.add_argument("--trainer-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any further transformers.Seq2SeqTrainingArguments field, e.g. fsdp='full_shard "
                        "auto_wrap' or deepspeed=ds.json (VALUE parsed as JSON when it can be)")
    r = p.add_argument_group("runtime")
    r.add_argument("--device", default="auto",
                   help="auto (cuda if available, else cpu), cpu, cuda (each process its LOCAL_RANK GPU), cuda:N")
    r.add_argument("--threads", type=int, default=1,
                   help="torch threads per process (on small shared CPUs 1 thread per process is fastest: run "
                        "more processes with torchrun instead)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_mt)


def read_sources(specs, langs) -> tuple[dict, dict]:
    """``--sources`` -> ({lang: lines}, {lang: file name}).  ``FILE`` is in the first source language;
    ``LANG=FILE`` names its language; a path containing ``{lang}`` is read for every source language.
    Invalid UTF-8 is an error naming the file and line, before any model work."""
    out: dict[str, list[str]] = {}
    names: dict[str, str] = {}

    def read(lang, path):
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"--sources: {path} (language {lang}) is a directory, expected a text file")
        if not path.is_file():
            raise FileNotFoundError(f"--sources: {path} (language {lang}) does not exist")
        if lang in out:
            raise ValueError(f"--sources: two files for language {lang!r}")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise ValueError(f"--sources: {path}:{line}: not valid UTF-8 ({exc.reason})") from None
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        out[lang] = [line.rstrip("\r") for line in lines]
        names[lang] = str(path)

    for spec in specs:
        if "{lang}" in spec:
            for lang in langs:
                read(lang, spec.format(lang=lang))
        elif "=" in spec and not Path(spec).exists():
            lang, path = spec.split("=", 1)
            read(lang, path)
        else:
            if not langs:
                raise ValueError("--sources FILE without a language needs --src or --directions")
            read(langs[0], spec)
    return out, names


def _trainer_args(items) -> dict:
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--trainer-arg {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _run_mt(args) -> int:
    from ..._runtime import resolve_device, set_threads
    from .config import DistillMTConfig, parse_direction
    from .pipeline import distill_mt
    from .config import TrainConfig

    teachers = args.teacher_model
    if teachers and args.model:
        raise ValueError("give --model (one teacher, also the student's init) or --teacher-model (repeatable, with "
                         "--student-from N), not both")
    if not teachers and not args.model:
        raise ValueError("give --model DIR, or --teacher-model DIR (repeatable)")
    if teachers and not 0 <= args.student_from < len(teachers):
        raise ValueError(f"--student-from {args.student_from}: expected an index of --teacher-model in "
                         f"[0, {len(teachers)})")
    if not teachers and args.student_from != 0:
        raise ValueError("--student-from picks one of several --teacher-model; with --model the student starts from it")
    model_path = teachers[args.student_from] if teachers else args.model

    if args.directions:
        directions = [parse_direction(d) for d in args.directions]
    elif args.src and args.tgt:
        directions = [(args.src, args.tgt)]
    else:
        raise ValueError("give --src and --tgt, or --directions SRC-TGT ...")
    for name in ("beam", "shard_size", "pivot_nbest", "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected an integer >= 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: expected an integer >= 1")
    if args.pivot_nbest > args.beam:
        raise ValueError(f"--pivot-nbest {args.pivot_nbest} must be <= --beam {args.beam}")
    resolve_device(args.device)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist")
    langs = list(dict.fromkeys(s for s, _ in directions))
    sources, names = read_sources(args.sources, langs)
    set_threads(args.threads)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    train = TrainConfig(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, warmup_steps=args.warmup_steps,
                        weight_decay=args.weight_decay, max_tokens=args.max_tokens, grad_accum=args.grad_accum,
                        label_smoothing=args.label_smoothing, loss=args.loss, kd_max_new_tokens=args.kd_max_new_tokens,
                        kd_temperature=args.kd_temperature, kd_top_p=args.kd_top_p, skew_alpha=args.skew_alpha,
                        gkd_lambda=args.gkd_lambda, gkd_beta=args.gkd_beta, llmr_next=args.llmr_next,
                        llmr_reward=args.llmr_reward, llmr_baseline=not args.llmr_no_baseline,
                        llmr_scale=args.llmr_scale, llmr_clip=args.llmr_clip,
                        seed=args.seed, save_every=args.save_every, logging_steps=args.logging_steps,
                        device=args.device, precision=precision, report_to=args.report_to,
                        keep_state=args.keep_state, trainer_args=_trainer_args(args.trainer_arg))
    options = {}
    if args.weights is not None:
        options["weights"] = list(args.weights)
    if args.voting != "sum":
        options["voting"] = args.voting
    if args.mean != "arithmetic":
        options["mean"] = args.mean
    if args.pivot_nbest != 1:
        options["pivot_nbest"] = args.pivot_nbest
    if args.pivot_model is not None:
        if not 0 <= args.pivot_model < len(teachers or [None]):
            raise ValueError(f"--pivot-model {args.pivot_model}: expected an index of --teacher-model in "
                             f"[0, {len(teachers or [None])})")
        options["pivot_model"] = args.pivot_model
    if args.no_direct:
        options["direct"] = False
    if args.prompt:
        from ...decoding.prompts import DecoderOnlyAdapter

        for tpl in args.prompt:
            DecoderOnlyAdapter.check_template(tpl)
        options["prompts"] = list(args.prompt)
    if args.stop:
        if not all(args.stop):
            raise ValueError("--stop '': expected a non-empty string")
        options["stop_strings"] = list(args.stop)
    if not args.stop_at_newline:
        options["stop_at_newline"] = False
    if args.chat is not None:
        options["chat"] = args.chat
    if args.restrict_vocab is not False:
        from ...decoding.cli import check_vocab_table

        check_vocab_table(args.restrict_vocab, Path(model_path), sorted({t for _, t in directions}))
        options["restrict_vocab"] = True if args.restrict_vocab is True else str(Path(args.restrict_vocab).resolve())
    config = DistillMTConfig(directions=directions, pivots=args.pivots, method=args.method, beam_size=args.beam,
                             max_new_tokens=args.max_new_tokens, length_penalty=args.length_penalty,
                             batch_size=args.batch_size, shard_size=args.shard_size, train=train,
                             translate_options=options, truncate=args.truncate, num_teachers=len(teachers or [None]))
    result = distill_mt(model_path, sources, args.out, config, student_path=args.student, quiet=args.quiet,
                        source_names=names, teacher_paths=teachers)
    from ..._runtime import dist_info

    if dist_info().is_main:
        print(f"student saved to {result.student_dir} ({result.num_pairs} training pairs, {result.steps} steps)",
              file=sys.stderr)
    return 0
