"""``ensemblekd distill mt``: decode with an ensemble, SeqKD-train a student, save it.

Registered into the ``distill`` group by :func:`register_mt`; the handler parses arguments into
a :class:`~ensemblekd.distill.mt.DistillMTConfig` and makes one call to
:func:`~ensemblekd.distill.mt.distill_mt`.  torch/transformers are imported only when it runs.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register_mt", "read_sources"]


def register_mt(distill_sub) -> None:
    """Add the ``mt`` command to the ``distill`` sub-parsers."""
    p = distill_sub.add_parser(
        "mt", help="distill an MT ensemble (EBBS, ...) into one student (SeqKD)",
        description="Decode source text with an ensemble of one multilingual model (direct + pivot paths), "
                    "fine-tune a student initialised from the model on the outputs (sequence-level KD), save "
                    "it as a Hugging Face checkpoint in OUT/student. Rerunning the same command resumes.")
    p.add_argument("--model", required=True, help="base model directory (teacher, and the student's init)")
    p.add_argument("--src", help="source language (with --tgt: one direction)")
    p.add_argument("--tgt", help="target language")
    p.add_argument("--directions", nargs="+", metavar="SRC-TGT",
                   help="several directions at once, e.g. de-fr fr-de (overrides --src/--tgt)")
    p.add_argument("--pivots", nargs="*", default=[],
                   help="pivot languages; per direction its own two languages are left out")
    p.add_argument("--method", default="ebbs",
                   choices=("ebbs", "average", "vote", "mbr", "pivot", "direct", "self", "union"),
                   help="teacher: an ensemble method, 'direct'/'self' (self-distillation) or 'union' "
                        "(every component's output as a separate target)")
    p.add_argument("--sources", nargs="+", required=True, metavar="[LANG=]FILE",
                   help="source text, one sentence a line: FILE (in --src), LANG=FILE, or a path with {lang}")
    p.add_argument("--out", required=True, help="output/working directory")
    p.add_argument("--student", help="initialise the student from this checkpoint instead of --model "
                                     "(same architecture and vocabulary)")
    p.add_argument("--loss", default="seqkd", choices=("seqkd", "kl", "rkl", "js", "tvd"),
                   help="seqkd: cross-entropy on the teacher outputs; kl|rkl|js|tvd: word-level f-divergence "
                        "against the averaged components (white-box teacher)")
    p.add_argument("--beam", type=int, default=5, help="beam size of the teacher decoding")
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--length-penalty", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=None, help="decoding batch size (sentences)")
    p.add_argument("--shard-size", type=int, default=256, help="sentences per decoding shard")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=None, help="training steps (overrides --epochs)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--max-tokens", type=int, default=4096, help="padded tokens per training batch")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--save-every", type=int, default=200, help="steps between resumable checkpoints")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda (an error when no GPU is available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_mt)


def read_sources(specs, langs) -> dict:
    """``--sources`` -> {lang: lines}.  ``FILE`` is in the first source language; ``LANG=FILE`` names its
    language; a path containing ``{lang}`` is read for every source language."""
    out: dict[str, list[str]] = {}

    def read(lang, path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"--sources: {path} (language {lang}) does not exist")
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if lang in out:
            raise ValueError(f"--sources: two files for language {lang!r}")
        out[lang] = [line.rstrip("\r") for line in lines]

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
    return out


def _run_mt(args) -> int:
    from .mt import DistillMTConfig, distill_mt, parse_direction
    from .seqkd import SeqKDConfig

    if args.directions:
        directions = [parse_direction(d) for d in args.directions]
    elif args.src and args.tgt:
        directions = [(args.src, args.tgt)]
    else:
        raise ValueError("give --src and --tgt, or --directions SRC-TGT ...")
    langs = list(dict.fromkeys(s for s, _ in directions))
    sources = read_sources(args.sources, langs)
    train = SeqKDConfig(epochs=args.epochs, max_steps=args.max_steps, lr=args.lr, warmup_steps=args.warmup_steps,
                        max_tokens=args.max_tokens, label_smoothing=args.label_smoothing, loss=args.loss,
                        seed=args.seed, save_every=args.save_every, device=args.device)
    config = DistillMTConfig(directions=directions, pivots=args.pivots, method=args.method, beam_size=args.beam,
                             max_new_tokens=args.max_new_tokens, length_penalty=args.length_penalty,
                             batch_size=args.batch_size, shard_size=args.shard_size, train=train)
    result = distill_mt(args.model, sources, args.out, config, student_path=args.student, quiet=args.quiet)
    print(f"student saved to {result.student_dir} ({result.num_pairs} training pairs, {result.steps} steps)",
          file=sys.stderr)
    return 0
