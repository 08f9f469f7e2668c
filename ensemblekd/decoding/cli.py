"""``ensemblekd translate``: lines in (stdin or -i), one translation per line out (stdout or -o), in order.

Example::

    ensemblekd translate --model models/m30k-zeroshot --src de --tgt fr --pivots en cs --method ebbs \\
        --beam 5 < test.de > test.fr

``--model A --model B``: an ensemble of models sharing one tokenizer and vocabulary (each contributes its direct
and pivot paths; a path given twice is loaded once); models that differ are refused before the weights load.

The handler parses the arguments and calls :func:`ensemblekd.decoding.translate` once per window of
``--window`` lines (batches are sorted by length within a window), writing each window's lines, in input
order, as soon as they are final; progress goes to stderr (``--quiet`` turns it off).  With ``-o OUT`` the
lines go to ``OUT.partial``, renamed to ``OUT`` at the end; Ctrl-C or a kill keeps the finished lines
(``--resume`` continues them: the k lines there are the first k inputs).  Lines are split on ``\\n`` only (a
trailing ``\\r`` is dropped), so the output has exactly as many lines as the input; a newline inside a
translation is written as a space.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .api import METHODS


def register(sub) -> None:
    """Register the ``translate`` sub-command."""
    import argparse

    p = sub.add_parser("translate", help="translate lines with a multilingual model (direct, pivot, ensembles)",
                       description="Translate lines (stdin or -i) into one line each (stdout or -o), in order.")
    p.add_argument("--model", required=True, action="append", metavar="PATH",
                   help="model directory (Hugging Face format); repeat for an ensemble of several models that share "
                        "one tokenizer and vocabulary (components: each model's direct and pivot paths, model-major)")
    p.add_argument("--pivot-model", type=int, default=None, metavar="N",
                   help="the N-th --model (0-based) translates into the pivots for every model (default: each its own)")
    p.add_argument("--tokenizer", metavar="PATH", help="tokenizer directory (default: the first --model)")
    p.add_argument("--src", required=True, help="source language code")
    p.add_argument("--tgt", required=True, help="target language code")
    p.add_argument("--pivots", nargs="*", default=[], metavar="LANG", help="pivot language codes")
    p.add_argument("--method", default="ebbs", choices=METHODS, help="decoding method (default: ebbs)")
    p.add_argument("--beam", type=int, default=5, help="beam size (default: 5)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="most generated tokens per line")
    p.add_argument("--length-penalty", type=float, default=1.0, help="length penalty alpha (default: 1.0)")
    p.add_argument("--batch-size", type=int, default=16, help="sentences per batch (default: 16)")
    p.add_argument("--device", default=None, help="auto (cuda if available), cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one weight per component")
    p.add_argument("--voting", default="sum", choices=("sum", "max", "count"), help="EBBS voting rule")
    p.add_argument("--mean", default="arithmetic", choices=("arithmetic", "geometric"), help="averaging mean")
    p.add_argument("--pivot-nbest", type=int, default=1, help="m-best pivot translations as m components")
    p.add_argument("--mbr-nbest", type=int, default=1, help="MBR candidates per component")
    p.add_argument("--mbr-metric", default="bleu", choices=("bleu", "chrf"), help="MBR utility")
    add_decoder_only_options(p)
    p.add_argument("--truncate", action="store_true", help="cut over-long lines (with a warning) instead of failing")
    p.add_argument("--restrict-vocab", nargs="?", const=True, default=False, metavar="TABLE",
                   help="restrict outputs to the target language's vocabulary: MODEL/ensemblekd_target_vocab.json, "
                        "or the JSON table TABLE (see `ensemblekd vocab build`)")
    p.add_argument("-i", "--input", metavar="IN", help="input file (default: stdin)")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout); written as OUT.partial, "
                                                          "renamed when complete")
    p.add_argument("--resume", action="store_true",
                   help="continue OUT.partial of an interrupted run (its lines are the first inputs' translations)")
    p.add_argument("--window", type=int, default=1000,
                   help="lines translated (and sorted by length) together before they are written (default: 1000)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default: 1; on small shared CPUs one thread per process ran ~4x faster "
                        "than torch's default: run several processes instead)")
    p.add_argument("--nbest", type=int, default=1, metavar="N",
                   help="write the N best translations of each line on its line, tab-separated (best first; "
                        "MBR: distinct candidates by expected utility); default 1")
    p.add_argument("--provenance", action="store_true",
                   help="write one JSON object per line instead of text: text, score, token_ids, nbest, and per "
                        "component its name, input (source or pivot translation) and candidates, and per token "
                        "the components that proposed it")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def add_decoder_only_options(p, *, student: bool = False) -> None:
    """``--prompt``, ``--stop``, ``--no-stop-at-newline``, ``--chat``: the decoder-only options of ``translate``
    and ``distill mt`` (``student``: with what they mean for the student's training pairs)."""
    import argparse

    pre = "" if student else "decoder-only models: "
    p.add_argument("--prompt", action="append", default=None, metavar="TEMPLATE",
                   help=f"{pre}a prompt template with {{src}} {{tgt}} {{text}} (repeat for an ensemble)"
                        + ("; the student is trained on the FIRST (default: the built-in template)" if student else ""))
    p.add_argument("--stop", action="append", default=[], metavar="STRING",
                   help=f"{pre}end a hypothesis{' (and a student sample)' if student else ''} at this string, as "
                        "generate(stop_strings=...) (repeat)")
    p.add_argument("--no-stop-at-newline", dest="stop_at_newline", action="store_false",
                   help=f"{pre}search whole continuations (default: end at the first newline; the output is the "
                        "first line either way" + ("; the student's targets end with the first stop string, or "
                                                   "with EOS when there is none" if student else "") + ")")
    p.add_argument("--chat", default=None, action=argparse.BooleanOptionalAction,
                   help=f"{pre}wrap prompts in the tokenizer's chat template (default: when it has one)")


def read_lines(path) -> list[str]:
    """UTF-8 lines of ``path`` (``None`` or ``-``: stdin), split on ``\\n`` only."""
    if path in (None, "-"):
        data = sys.stdin.buffer.read()
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"--input {path}: no such file")
        data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path or 'stdin'} line {line}: not valid UTF-8 ({exc.reason})") from None
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [s[:-1] if s.endswith("\r") else s for s in lines]


def load(model_path: str, tokenizer_path=None, device=None, quiet: bool = False):
    """Model (seq2seq or causal LM, from the config) and tokenizer of a local directory, in eval mode.

    ``quiet`` silences transformers' loading progress bars."""
    import json

    path = Path(model_path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"--model {model_path}: no config.json there (expected a Hugging Face model "
                                "directory saved with save_pretrained)")
    try:
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"--model {model_path}: config.json is not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or "model_type" not in raw:
        kind = " (a parser student: use `ensemblekd parse`)" if isinstance(raw, dict) and "parser" in raw else ""
        raise ValueError(f"--model {model_path}: config.json has no model_type; not a Hugging Face model{kind}")
    weights = [p for p in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                           "pytorch_model.bin.index.json") if (path / p).is_file()]
    if not weights:
        raise ValueError(f"--model {model_path}: no weights (model.safetensors or pytorch_model.bin) there")
    from .._runtime import quiet_hf_progress, resolve_device

    if device is not None:
        resolve_device(device)
    from transformers import AutoConfig, AutoTokenizer

    from .._runtime import auto_model_class

    try:
        config = AutoConfig.from_pretrained(path)
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(f"--model {model_path}: config.json cannot be read by transformers ({_first_line(exc)})") from None
    auto = auto_model_class(config)
    tok_path = tokenizer_path or path
    with quiet_hf_progress(quiet):
        try:
            tokenizer = AutoTokenizer.from_pretrained(tok_path)
        except Exception as exc:  # transformers raises many types for a broken tokenizer folder
            flag = "--tokenizer" if tokenizer_path else "--model"
            raise ValueError(f"{flag} {tok_path}: no usable tokenizer there ({_first_line(exc)})") from None
        try:
            model = auto.from_pretrained(path).eval()
        except Exception as exc:  # e.g. a truncated safetensors file
            raise ValueError(f"--model {model_path}: the weights cannot be loaded ({_first_line(exc)})") from None
    return model, tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _check_before_loading(args):
    """Language codes, pivots, beam, weights, ... checked with the config and the tokenizer only (cheap), before
    the weights load (the tokenizer is loaded again with the model; the API repeats the same checks); several
    ``--model``: they must share one tokenizer and vocabulary (:func:`.multimodel.check_models`)."""
    from types import SimpleNamespace

    from .languages import get_adapter
    from .multimodel import ModelMismatchError, check_models, load_light
    from .prepare import validate

    paths = [Path(m) for m in args.model]
    light = [load_light(p, args.tokenizer) for p in paths]
    if any(x is None for x in light):
        return None
    config, gen, tokenizer = light[0]
    if args.restrict_vocab is not False:
        check_vocab_table(args.restrict_vocab, paths[0], [args.tgt], getattr(config, "vocab_size", None))
    adapters = [get_adapter(SimpleNamespace(config=c, generation_config=g), t) for c, g, t in light]
    pivots, _, prompts = validate(
        adapters[0], [], src=args.src, tgt=args.tgt, pivots=tuple(args.pivots), method=args.method,
        beam_size=args.beam, num_return=args.nbest, pivot_nbest=args.pivot_nbest, mbr_nbest=args.mbr_nbest,
        batch_size=args.batch_size, length_penalty=args.length_penalty, voting=args.voting, mean=args.mean,
        weights=args.weights, prompts=args.prompt, metric=args.mbr_metric, num_models=len(paths),
        pivot_model=args.pivot_model)
    if len(set(paths)) > 1:
        try:
            check_models([SimpleNamespace(config=c) for c, _, _ in light], [str(p) for p in paths],
                         adapters=adapters, tokenizers=[t for _, _, t in light], templates=prompts or [None],
                         langs=(args.tgt, *pivots, args.src), probe=["Ein Hund läuft im Park."])
        except ModelMismatchError as exc:
            raise ValueError(f"--model: {exc}") from None


def check_vocab_table(option, model_path: Path, langs, vocab_size=None) -> None:
    """``--restrict-vocab [TABLE]``: the table exists, is valid and has every language in ``langs``."""
    from .vocab import FILE_NAME, TargetVocabError, load_target_vocab

    source = model_path / FILE_NAME if option is True else Path(option)
    try:
        table, where = load_target_vocab(source, vocab_size=vocab_size)
    except TargetVocabError as exc:
        raise ValueError(f"--restrict-vocab: {exc}") from None
    missing = [lang for lang in langs if lang not in table]
    if missing:
        raise ValueError(f"--restrict-vocab: {where} has no vocabulary for {', '.join(map(repr, missing))} "
                         f"(it has {', '.join(sorted(table))})")


def _one_line(text: str, tabs: bool = False) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    return text.replace("\t", " ") if tabs else text


def _line(r, args) -> str:
    """One output line for one input line: text, N tab-separated texts, or a JSON object."""
    if args.provenance:
        import json

        obj = {"text": r.text, "score": r.score, "token_ids": list(r.token_ids),
               "provenance": None if r.provenance is None else [list(p) for p in r.provenance],
               "components": [{"name": c.name, "model": c.model, "input": c.input, "candidates": list(c.candidates)}
                              for c in r.components]}
        if args.nbest > 1:
            obj["nbest"] = [{"text": h.text, "score": h.score} for h in r.nbest]
        return json.dumps(obj, ensure_ascii=False)
    if args.nbest > 1:
        return "\t".join(_one_line(h.text, tabs=True) for h in (r.nbest or (r,)))
    return _one_line(r.text)


def _partial_lines(path: Path) -> int:
    """Complete lines in an interrupted run's output; a cut-off last line is removed from the file."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep != len(data):
        with open(path, "r+b") as f:
            f.truncate(keep)
    return data.count(b"\n", 0, keep)


def _run(args) -> int:
    from .._runtime import check_output_file, set_threads
    from .api import translate

    for flag, value in (("--window", args.window), ("--threads", args.threads), ("--beam", args.beam),
                        ("--batch-size", args.batch_size), ("--nbest", args.nbest)):
        if value < 1:
            raise ValueError(f"{flag} {value}: expected a positive integer")
    to_file = args.output not in (None, "-")
    partial = None
    done = 0
    if to_file:
        check_output_file(args.output, "-o")
        partial = Path(args.output + ".partial")
        if partial.exists() and not args.resume:
            raise ValueError(f"-o {args.output}: {partial} is left by an interrupted run; add --resume to continue "
                             "it, or delete it")
        if args.resume and partial.exists():
            done = _partial_lines(partial)
    elif args.resume:
        raise ValueError("--resume needs -o OUT (it continues OUT.partial)")
    warn = args.method == "ebbs" and not args.pivots and len(args.prompt or ()) < 2 and len(set(args.model)) < 2
    sources = read_lines(args.input)
    if done > len(sources):
        raise ValueError(f"--resume: {partial} has {done} lines but the input has {len(sources)}; not this input")
    set_threads(args.threads)
    _check_before_loading(args)
    loaded: dict = {}
    for path in args.model:     # a model is loaded once however many times it is named
        if path not in loaded:
            loaded[path] = load(path, args.tokenizer, args.device, quiet=args.quiet)
    models = [loaded[p][0] for p in args.model]
    model = models[0] if len(models) == 1 else models
    tokenizer = loaded[args.model[0]][1]
    options = dict(
        src_lang=args.src, tgt_lang=args.tgt, pivots=tuple(args.pivots),
        method=args.method, beam_size=args.beam, max_new_tokens=args.max_new_tokens,
        length_penalty=args.length_penalty, batch_size=args.batch_size, device=args.device, weights=args.weights,
        voting=args.voting, mean=args.mean, pivot_nbest=args.pivot_nbest, mbr_nbest=args.mbr_nbest,
        mbr_metric=args.mbr_metric, truncate=args.truncate, restrict_vocab=args.restrict_vocab,
        prompts=args.prompt, progress=False, num_return=args.nbest, return_provenance=args.provenance,
        pivot_model=args.pivot_model, model_names=list(args.model), stop_strings=tuple(args.stop),
        stop_at_newline=args.stop_at_newline, chat=args.chat)
    # every argument is checked on the first line before any window is decoded (the API validates first)
    out = open(partial, "a", encoding="utf-8") if to_file else sys.stdout
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(sources), initial=done, desc=f"translate ({args.method})", unit="line", file=sys.stderr)
    try:
        for start in range(done, len(sources), args.window):
            window = sources[start:start + args.window]
            results = translate(model, tokenizer, window, **options)
            if warn:  # after the first call, so that an invalid argument is reported alone
                warn = False
                print("ensemblekd: warning: --method ebbs without --pivots has one component: it equals "
                      "--method direct", file=sys.stderr)
            out.write("".join(_line(r, args) + "\n" for r in results))
            out.flush()
            done = start + len(window)
            if bar is not None:
                bar.update(len(window))
    except KeyboardInterrupt:
        if to_file:
            out.close()
            print(f"ensemblekd: interrupted: {done} of {len(sources)} lines are in {partial} "
                  "(rerun with --resume to continue)", file=sys.stderr)
        else:
            print(f"ensemblekd: interrupted after {done} of {len(sources)} lines", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    if to_file:
        out.close()
        import os

        os.replace(partial, args.output)
    return 0
