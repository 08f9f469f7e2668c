"""Train the English-centric multilingual Transformer of the zero-shot testbed (resumable, seeded).

Model: stock ``M2M100ForConditionalGeneration`` from a config (pre-norm Transformer, sinusoidal positions, tied
embeddings; default d_model 256, 3+3 layers, 4 heads, ffn 1024: ~7.6M parameters with the 8k vocabulary). The
target language is a tag on the ENCODER side (Johnson et al., 2017): encoder input = [<tgt tag>] + source + [</s>],
decoder input = [</s>] + target, labels = target + [</s>]; config.json records this as
``ensemblekd_language_scheme = "target_token_in_source"``.

Data: the six English-centric directions of the Multi30k train split only (en<->de, en<->fr, en<->cs); de<->fr,
de<->cs and fr<->cs stay zero-shot. Token-bucketed batches (<= --max-tokens padded target tokens), shuffled per
epoch with a generator seeded by (seed, epoch), so the data position is just (epoch, batch index).

Optimisation: AdamW (0.9, 0.98), inverse-sqrt schedule with linear warmup, label-smoothed cross entropy, gradient
clipping; bf16 autocast (CPU and CUDA). A checkpoint (model, optimizer, scheduler, RNG states, data position,
elapsed time) is written atomically (tmp file + rename) every --ckpt-minutes and on SIGTERM/SIGINT, so a killed
run resumes where it was (``--out`` with an existing checkpoint.pt resumes automatically).

Every --eval-minutes the model is evaluated on the first --eval-lines of val (greedy; ensemblekd.testbed.evaluate),
the result is appended to <out>/eval.jsonl, the weights are kept in <out>/snapshots/step<N>.safetensors and
<out>/best.json points to the best one by ensemblekd.testbed.selection_key. At the end (--max-minutes / --deadline /
--max-steps) the best snapshot is exported (ensemblekd.testbed.release.export, as export.py does) when --export-to
is given.

    nohup nice -n 10 .venv/bin/python examples/zeroshot_mt/train.py --out runs/zeroshot/main \
        --deadline 2026-11-22T09:55:00Z --export-to models/m30k-zeroshot --quiet > runs/zeroshot/main.log 2>&1 &
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

from ensemblekd._runtime import atomic_write_with
from ensemblekd.testbed import (LANG_TOKENS, LANGS, SUPERVISED, alignment_inputs, alignment_loss, check_tokenizer,
                                encode_sources, evaluate, load_split, read_lines, selection_key, train_tokenizer)

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k"


def build_config(args, tokenizer):
    """Stock ``M2M100Config``; with --no-residual-layers the registered ``ensemblekd_m2m100`` config (Liu et al.
    2021: no self-attention residual in those encoder layers), loadable by AutoConfig after ``import ensemblekd``."""
    from transformers import M2M100Config

    kwargs = {}
    if args.no_residual_layers:
        from ensemblekd.models.residual_free import ResidualFreeM2M100Config as M2M100Config  # noqa: N814

        kwargs["encoder_no_residual_layers"] = args.no_residual_layers
    cfg = M2M100Config(
        **kwargs,
        vocab_size=len(tokenizer),
        d_model=args.d_model,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=args.heads,
        decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn,
        decoder_ffn_dim=args.ffn,
        max_position_embeddings=256,
        dropout=args.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        scale_embedding=True,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    cfg.ensemblekd_language_scheme = "target_token_in_source"
    cfg.ensemblekd_language_tokens = dict(LANG_TOKENS)
    return cfg


def build_examples(tokenizer, data_dir: Path, lines: int | None):
    """(src ids, tgt ids) for the six English-centric directions; src = [<tgt tag>] + src + [</s>]."""
    text = {lang: read_lines(data_dir / f"train.{lang}")[:lines] for lang in LANGS}
    ids = {lang: tokenizer(text[lang], add_special_tokens=True)["input_ids"] for lang in LANGS}
    examples = []
    for src, tgt in SUPERVISED:
        enc = encode_sources(tokenizer, text[src], tgt)
        for i in range(len(enc)):
            if len(enc[i]) > 256 or len(ids[tgt][i]) > 256:
                raise ValueError(f"{data_dir}/train.{src}/{tgt}:{i + 1}: longer than 256 subwords")
            examples.append((enc[i], ids[tgt][i]))
    return examples


def epoch_batches(examples, epoch: int, seed: int, max_tokens: int) -> list[list[int]]:
    """Batches of example indices with (max target length) * size <= max_tokens; deterministic in (seed, epoch)."""
    import numpy as np

    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(examples))
    perm = sorted(perm.tolist(), key=lambda i: (len(examples[i][1]), len(examples[i][0])))
    batches, cur, width = [], [], 0
    for i in perm:
        w = max(width, len(examples[i][1]))
        if cur and w * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, w = [], len(examples[i][1])
        cur.append(i)
        width = w
    if cur:
        batches.append(cur)
    order = rng.permutation(len(batches))
    return [batches[j] for j in order]


def collate(examples, idx, pad: int, start: int):
    import torch

    src = [examples[i][0] for i in idx]
    tgt = [examples[i][1] for i in idx]
    s = torch.full((len(idx), max(map(len, src))), pad, dtype=torch.long)
    d = torch.full((len(idx), max(map(len, tgt))), pad, dtype=torch.long)
    y = torch.full_like(d, -100)
    for r, (a, b) in enumerate(zip(src, tgt)):
        s[r, : len(a)] = torch.tensor(a)
        d[r, 0] = start
        d[r, 1 : len(b)] = torch.tensor(b[:-1])
        y[r, : len(b)] = torch.tensor(b)
    return s, (s != pad).long(), d, y


def save_atomic(obj, path: Path) -> None:
    import torch

    atomic_write_with(path, lambda f: torch.save(obj, f))


def set_threads(spec: str) -> int:
    """Set torch's intra-op threads from `spec` (an int, or 'auto' = by the current 1-minute load average)."""
    import torch

    if spec == "auto":
        ncpu = os.cpu_count() or 1
        mine = torch.get_num_threads() if torch.get_num_threads() <= ncpu else ncpu
        others = os.getloadavg()[0] - mine
        n = ncpu if others < 0.5 else 1
    else:
        n = int(spec)
        if n < 1:
            raise ValueError(f"--threads must be a positive integer or 'auto', got {spec!r}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (Linux /proc/cpuinfo flags avx512_bf16 or amx_bf16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16_autocast(mode: str, device: str) -> bool:
    if mode != "auto":
        return mode == "on"
    return device.startswith("cuda") or cpu_has_native_bf16()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, required=True, help="run folder (resumes if it holds checkpoint.pt)")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer folder (default: <out>/tokenizer, trained if absent)")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--init-from", type=Path, default=None,
                    help="start from the weights of this model folder (from_pretrained; same architecture and "
                    "tokenizer), e.g. to continue training an exported model; optimizer and schedule start fresh")
    ap.add_argument("--train-lines", type=int, default=None, help="first N train lines only (smoke tests)")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--no-residual-layers", type=int, nargs="*", default=[], metavar="I",
                    help="0-based encoder layers without the self-attention residual (Liu et al. 2021; e.g. 1 = the "
                    "middle of 3); default none = stock M2M100")
    ap.add_argument("--align-weight", type=float, default=0.0,
                    help="weight of the encoder alignment loss (ensemblekd.testbed.align; 0 = off)")
    ap.add_argument("--max-tokens", type=int, default=4000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                    help="bf16 autocast; auto = on CUDA, and on CPUs with native bf16 (avx512_bf16 / amx_bf16): "
                    "elsewhere it is emulated and ~30x slower")
    ap.add_argument("--no-bf16", action="store_true", help="same as --bf16 off")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--threads", default="2", help="torch threads, or 'auto': 2 (os.cpu_count()) when the load "
                    "average leaves room, else 1 (a lone thread wastes no time at barriers on an oversubscribed box)")
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--eval-minutes", type=float, default=15.0, help="<= 0: evaluate only at the end")
    ap.add_argument("--eval-lines", type=int, default=200, help="first N val lines (0: no evaluation)")
    ap.add_argument("--eval-max-new-tokens", type=int, default=None, help="cap on generated length (smoke tests)")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None, help="training wall time over all resumptions")
    ap.add_argument("--deadline", default=None, help="stop at this UTC time, e.g. 2026-11-22T09:55:00Z")
    ap.add_argument("--export-to", type=Path, default=None)
    ap.add_argument("--quiet", action="store_true")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_model
    from tqdm import tqdm
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    import ensemblekd  # noqa: F401  (registers ensemblekd.models with the Auto classes)

    args = parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    set_threads(args.threads)
    deadline = None
    if args.deadline:
        deadline = dt.datetime.fromisoformat(args.deadline.replace("Z", "+00:00")).timestamp()
    out = args.out
    (out / "snapshots").mkdir(parents=True, exist_ok=True)
    def log(*a):  # events (resume, evaluations, stop) are printed even with --quiet, which hides the bar
        print(*a, file=sys.stderr, flush=True)

    tok_dir = args.tokenizer or out / "tokenizer"
    if not (tok_dir / "tokenizer.json").is_file():
        texts = [line for lang in LANGS for line in read_lines(args.data / f"train.{lang}")[: args.train_lines]]
        train_tokenizer(texts, tok_dir, args.vocab_size)
        check_tokenizer(tok_dir, texts[:5])
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))

    ckpt_path = out / "checkpoint.pt"
    resume = torch.load(ckpt_path, weights_only=False) if ckpt_path.is_file() else None
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    config = build_config(args, tokenizer)
    model = AutoModelForSeq2SeqLM.from_config(config)
    model.generation_config.decoder_start_token_id = config.decoder_start_token_id
    model.generation_config.forced_bos_token_id = None
    if args.init_from is not None and resume is None:
        init = AutoModelForSeq2SeqLM.from_pretrained(str(args.init_from), dtype=torch.float32)
        if init.config.model_type != config.model_type or init.config.vocab_size != config.vocab_size:
            raise ValueError(f"--init-from {args.init_from}: a {init.config.model_type} model with vocabulary "
                             f"{init.config.vocab_size}, expected {config.model_type} with {config.vocab_size}")
        model.load_state_dict(init.state_dict())
        if (Path(args.init_from) / "README.md").is_file():  # export.py puts the starting model's history on the card
            shutil.copyfile(Path(args.init_from) / "README.md", out / "init_card.md")
        log(f"initialised from {args.init_from}")
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    warm = args.warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, math.sqrt(warm / (s + 1))))
    state = {"step": 0, "epoch": 0, "batch": 0, "elapsed": 0.0, "tokens": 0, "best": None}
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        state = resume["state"]
        torch.set_rng_state(resume["rng"]["torch"])
        random.setstate(resume["rng"]["python"])
        if device.startswith("cuda") and resume["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(resume["rng"]["cuda"])
        log(f"resumed from {ckpt_path} at step {state['step']} (epoch {state['epoch']}, batch {state['batch']})")
    else:
        config.save_pretrained(out)
        if (out / "tokenizer").resolve() != Path(tok_dir).resolve():
            tokenizer.save_pretrained(str(out / "tokenizer"))
        (out / "args.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    log(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters on {device}")

    cache = out / "examples.pt"  # tokenized pairs, so that a resumption starts training at once
    key = [str(args.data.resolve()), args.train_lines, hashlib.sha1((Path(tok_dir) / "tokenizer.json").read_bytes()).hexdigest()]
    cached = torch.load(cache, weights_only=False) if cache.is_file() else None
    if cached is not None and cached["key"] == key:
        examples = cached["examples"]
    else:
        examples = build_examples(tokenizer, args.data, args.train_lines)
        save_atomic({"key": key, "examples": examples}, cache)
    val = load_split(args.data, "val", args.eval_lines) if args.eval_lines > 0 else None
    pad, start = config.pad_token_id, config.decoder_start_token_id
    tag_ids = {lang: tokenizer.convert_tokens_to_ids(LANG_TOKENS[lang]) for lang in LANGS}
    use_bf16 = use_bf16_autocast("off" if args.no_bf16 else args.bf16, device)
    log(f"bf16 autocast: {'on' if use_bf16 else 'off'}")
    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def checkpoint():
        rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
               "cuda": torch.cuda.get_rng_state() if device.startswith("cuda") else None}
        save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "state": state, "rng": rng, "args": vars(args)}, ckpt_path)

    def run_eval():
        res = evaluate(model, tokenizer, val, device=device, max_new_tokens=args.eval_max_new_tokens)
        outputs = res.pop("_outputs")
        res.update(step=state["step"], epoch=state["epoch"], tokens=state["tokens"],
                   train_minutes=round(state["elapsed"] / 60, 2), time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        snap = out / "snapshots" / f"step{state['step']}.safetensors"
        save_model(model, str(snap.with_suffix(".tmp")))
        os.replace(snap.with_suffix(".tmp"), snap)
        res["snapshot"] = str(snap)
        with open(out / "eval.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(res) + "\n")
        (out / "outputs").mkdir(exist_ok=True)
        (out / "outputs" / f"step{state['step']}.json").write_text(json.dumps(outputs, ensure_ascii=False))
        if state["best"] is None or selection_key(res) > tuple(state["best"]["key"]):
            state["best"] = {"key": list(selection_key(res)), "step": state["step"], "snapshot": str(snap)}
            (out / "best.json").write_text(json.dumps(res, indent=1))
        log(f"eval step {state['step']}: sup {res['supervised_bleu']} zs direct {res['zs_direct_bleu']} "
            f"pivot {res['zs_pivot_bleu']} off-target max {res['zs_off_max']} ({res['eval_seconds']} s)")
        return res

    def done() -> bool:
        if args.max_steps is not None and state["step"] >= args.max_steps:
            return True
        if args.max_minutes is not None and state["elapsed"] >= 60 * args.max_minutes:
            return True
        return deadline is not None and time.time() >= deadline

    model.train()
    last_ckpt = last_eval = last_print = time.time()
    last_tokens = state["tokens"]
    seg_start, seg_elapsed0 = time.time(), state["elapsed"]
    bar = tqdm(total=args.max_steps, initial=state["step"], disable=args.quiet, unit="step", file=sys.stderr)
    batches = epoch_batches(examples, state["epoch"], args.seed, args.max_tokens)
    while not done() and stop["signal"] is None:
        if state["batch"] >= len(batches):
            state["epoch"] += 1
            state["batch"] = 0
            batches = epoch_batches(examples, state["epoch"], args.seed, args.max_tokens)
        s, m, d, y = (t.to(device) for t in collate(examples, batches[state["batch"]], pad, start))
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                            enabled=use_bf16):
            logits = model(input_ids=s, attention_mask=m, decoder_input_ids=d).logits
        ntok = int((y != -100).sum())
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), ignore_index=-100,
                               label_smoothing=args.label_smoothing, reduction="sum") / ntok
        if args.align_weight > 0:
            x, xm, e, em = (t.to(device) for t in alignment_inputs(
                examples, batches[state["batch"]], SUPERVISED, len(examples) // len(SUPERVISED), tag_ids, pad,
                random))
            align_loss = alignment_loss(model, x, xm, e, em)
            loss = loss + args.align_weight * align_loss
            state["last_align"] = align_loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        sched.step()
        state["step"] += 1
        state["batch"] += 1
        state["tokens"] += ntok
        state["elapsed"] = seg_elapsed0 + time.time() - seg_start
        state["last_loss"] = loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{state['last_loss']:.3f}", ep=state["epoch"], tok_s=f"{state['tokens'] / state['elapsed']:.0f}")
        if state["step"] % 20 == 0:
            set_threads(args.threads)
        if args.quiet and time.time() - last_print >= 120:
            rate = (state["tokens"] - last_tokens) / (time.time() - last_print)
            last_print, last_tokens = time.time(), state["tokens"]
            align = f" align {state['last_align']:.3f}" if "last_align" in state else ""
            print(f"step {state['step']} epoch {state['epoch']} loss {state['last_loss']:.3f}{align} "
                  f"tok/s {rate:.0f} (overall {state['tokens'] / state['elapsed']:.0f}) threads {torch.get_num_threads()} elapsed {state['elapsed'] / 60:.1f} min",
                  file=sys.stderr, flush=True)
        now = time.time()
        if val is not None and args.eval_minutes > 0 and now - last_eval >= 60 * args.eval_minutes:
            run_eval()
            last_eval = time.time()
        if now - last_ckpt >= 60 * args.ckpt_minutes:
            checkpoint()
            last_ckpt = time.time()
    bar.close()
    checkpoint()
    for s_, h in old.items():
        signal.signal(s_, h)
    if stop["signal"] is not None:
        log(f"stopped by signal {stop['signal']} at step {state['step']}; checkpoint saved, rerun to resume")
        return state
    if args.eval_lines > 0 and (state["best"] is None or state["best"]["step"] != state["step"]):
        if not (out / "snapshots" / f"step{state['step']}.safetensors").is_file():
            run_eval()
            checkpoint()
    if args.export_to is not None and state["best"] is not None:
        from ensemblekd.testbed.release import export

        export(out, args.export_to, snapshot=Path(state["best"]["snapshot"]), data=args.data, threads=torch.get_num_threads())
        log(f"exported {state['best']['snapshot']} to {args.export_to}")
    return state


if __name__ == "__main__":
    main()
