"""Export a training snapshot of the zero-shot testbed as a self-contained Hugging Face model folder.

Writes into ``out``: model.safetensors (weights stored in fp16; config.json keeps ``dtype: float32`` so a plain
``from_pretrained`` computes in fp32), config.json (with the ensemblekd language scheme), generation_config.json,
the tokenizer, ``ensemblekd_target_vocab.json`` (per language, the subword ids that occur in that language's
train text, plus </s>: for the decoding core's optional restricted-vocabulary mode) and a model card README.md
with the val numbers of the snapshot (from the run's eval.jsonl) and, with --eval-test, greedy BLEU on the full
test_2016_flickr.

Used by examples/zeroshot_mt/train.py (``--export-to``) and export.py (its command line).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .align import TAU
from .evaluation import evaluate, target_vocab
from .multi30k import SUPERVISED, ZERO_SHOT, load_split

__all__ = ["export", "write_card"]


def _eval_record(run: Path, snapshot: Path) -> dict | None:
    log = run / "eval.jsonl"
    if not log.is_file():
        return None
    rec = None
    for line in log.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if Path(r["snapshot"]).name == snapshot.name:
            rec = r
    return rec


def _table(res: dict, title: str) -> str:
    rows = [f"**{title}** (greedy, sacrebleu BLEU; off-target = share of outputs py3langid labels as another language)",
            "", "| direction | BLEU | off-target | pivot via en BLEU |", "|---|---|---|---|"]
    for s, t in SUPERVISED:
        rows.append(f"| {s}→{t} (supervised) | {res[f'bleu/{s}-{t}']} | {res[f'off/{s}-{t}']:.1%} | |")
    for s, t in ZERO_SHOT:
        piv = res.get(f"pivot_bleu/{s}-{t}", "")
        rows.append(f"| {s}→{t} (zero-shot) | {res[f'bleu/{s}-{t}']} | {res[f'off/{s}-{t}']:.1%} | {piv} |")
    rows.append(f"| mean supervised | {res['supervised_bleu']} | | |")
    rows.append(f"| mean zero-shot | {res['zs_direct_bleu']} | {res['zs_off_mean']:.1%} | {res.get('zs_pivot_bleu', '')} |")
    return "\n".join(rows)


def _architecture(cfg: dict) -> str:
    """The card's architecture line, from config.json."""
    dims = (f"d_model {cfg['d_model']}, {cfg['encoder_layers']} encoder + {cfg['decoder_layers']} decoder layers, "
            f"{cfg['encoder_attention_heads']} heads, FFN {cfg['encoder_ffn_dim']}, tied embeddings")
    layers = cfg.get("encoder_no_residual_layers") or []
    if cfg.get("model_type") == "ensemblekd_m2m100" and layers:
        return ("M2M100 without the self-attention residual connection in encoder layer(s) "
                f"{', '.join(map(str, layers))} (0-based; Liu et al. 2021), `model_type = ensemblekd_m2m100`, "
                "registered with transformers' Auto classes by `import ensemblekd` "
                f"(`ensemblekd.models.residual_free`); otherwise a pre-norm M2M100: {dims}")
    return f"stock `M2M100ForConditionalGeneration` (pre-norm Transformer), {dims}"


def _continued_from(train_args: dict, run: Path) -> list[str]:
    """Card lines for a run started with --init-from: what the starting model was, read from its own card,
    including that model's own history (its "Continued training" and "Auxiliary loss" lines), so a chain of
    continuations stays on the card."""
    init = train_args.get("init_from")
    if not init or init == "None":
        return []
    card = run / "init_card.md"  # train.py's copy of the starting model's card (that folder may be overwritten since)
    if not card.is_file():
        card = Path(init) / "README.md"
    card_lines = card.read_text(encoding="utf-8").splitlines() if card.is_file() else []
    before = [line[len("- This snapshot: "):] for line in card_lines if line.startswith("- This snapshot: ")]
    what = f" ({before[0].rstrip('.')})" if before else ""
    own = "; the step, token and minute counts above are this continuation's"
    history = [(line.replace("- ", "  - earlier: ", 1) if line.startswith("- ") else line).replace(own, "")
               for line in card_lines if line.startswith(("- Continued training", "- Auxiliary loss", "  - earlier: "))]
    return [f"- Continued training (`--init-from {init}`, fresh optimizer, lr {train_args.get('lr')}, warmup "
            f"{train_args.get('warmup')}, seed {train_args.get('seed')}) from the earlier model{what}{own}.", *history]


def _auxiliary_loss(train_args: dict) -> list[str]:
    """The card line for --align-weight (examples/zeroshot_mt/align.py), if the run used it."""
    weight = float(train_args.get("align_weight", 0) or 0)
    if weight <= 0:
        return []
    return [f"- Auxiliary loss: encoder alignment, weight {weight:g} (`train.py --align-weight`, "
            "`examples/zeroshot_mt/align.py`): InfoNCE between the mean-pooled encoder states of [<T>]+X and "
            "[<T>]+English for each English-centric pair (T a third language), other English lines of the batch "
            f"as negatives, temperature {TAU:g}; built from English-centric data only."]


def _benchmark_table(rows: list[dict]) -> str:
    """Per-split means from benchmark.py's results JSON (a list of per-direction, per-method records)."""
    splits = list(dict.fromkeys(r["split"] for r in rows))
    def mean(split, method, zero_shot, key="bleu"):
        vals = [r[key] for r in rows if r["split"] == split and r["method"] == method
                and r["zero_shot"] == zero_shot]
        return sum(vals) / len(vals) if vals else float("nan")
    out = ["**Test sets, all lines** (beam 5, `restrict_vocab=True`, sacrebleu BLEU; `examples/zeroshot_mt/"
           "benchmark.py`, full tables in `examples/zeroshot_mt/results/benchmark.md`)", "",
           "| | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for label, method, zs in [("supervised, mean of 6", "direct", False), ("zero-shot direct, mean of 6", "direct", True),
                              ("zero-shot pivot via en, mean of 6", "pivot_en", True),
                              ("zero-shot EBBS, mean of 6", "ebbs", True)]:
        out.append(f"| {label} | " + " | ".join(f"{mean(s, method, zs):.2f}" for s in splits) + " |")
    out.append("| zero-shot direct off-target, mean | " + " | ".join(
        f"{mean(s, 'direct', True, 'off_target'):.1%}" for s in splits) + " |")
    return "\n".join(out)


def write_card(out: Path, n_params: int, rec: dict | None, test: dict | None, run: Path, snapshot: Path,
               benchmark: list[dict] | None = None, selection: str | None = None,
               evals: list[dict] | None = None) -> None:
    size_mb = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6
    cfg = json.loads((out / "config.json").read_text())
    args_file = run / "args.json"
    train_args = json.loads(args_file.read_text()) if args_file.is_file() else {}
    dropout = train_args.get("dropout", cfg.get("dropout"))
    lines = [
        "# m30k-zeroshot: a small English-centric multilingual translator (en, de, fr, cs)",
        "",
        "Trained from scratch by `examples/zeroshot_mt/train.py` as the testbed of ensemblekd's zero-shot ensembles.",
        "",
        f"- Architecture: {_architecture(cfg)}; {n_params / 1e6:.2f}M parameters; folder size",
        f"  {size_mb:.1f} MB (weights stored in fp16, computed in fp32 by default).",
        "- Tokenizer: joint 8k unigram subwords trained on the train text of all four languages, language tags",
        "  `__en__ __de__ __fr__ __cs__`.",
        "- Language scheme (`ensemblekd_language_scheme = target_token_in_source`, Johnson et al. 2017): encoder",
        "  input = [target tag] + source subwords + [`</s>`]; decoder prompt = [`</s>`] (decoder_start_token_id 2).",
        "- Data: Multi30k task 1 train split (Elliott et al. 2016; 29,000 captions), ONLY the six English-centric",
        "  directions en↔de, en↔fr, en↔cs (174k pairs). de↔fr, de↔cs, fr↔cs are zero-shot. Research use (Flickr30k).",
        f"- Training: AdamW (0.9, 0.98), lr {train_args.get('lr', '1e-3')}, {train_args.get('warmup', 400)} warmup steps, inverse-sqrt decay, label smoothing 0.1, dropout {dropout},",
        f"  clip 1.0, batches of ≤ 4,000 target tokens, bf16 autocast {train_args.get('bf16', 'auto')}"
        f"{' (off: --no-bf16)' if train_args.get('no_bf16') == 'True' else ''}, seed {train_args.get('seed', 1)}; "
        "CPU only, 1-2 threads (`--threads auto`)",
        "  on a 2-core machine shared with other jobs, so minutes are wall time under load, evaluations included.",
    ]
    if rec:
        lines += [
            f"- This snapshot: step {rec['step']}, epoch {rec['epoch']}, {rec['tokens'] / 1e6:.1f}M target tokens,"
            f" {rec['train_minutes']:.0f} minutes of training ({rec['tokens'] / max(1, 60 * rec['train_minutes']):.0f}"
            " target tokens/s).",
            *_auxiliary_loss(train_args),
            *_continued_from(train_args, run),
            f"- Checkpoint selection (val, first {rec['lines']} lines): "
            + (selection or "every zero-shot direction off-target ≤ 10%, then highest mean direct zero-shot BLEU."),
            "",
            _table(rec, f"val, first {rec['lines']} lines"),
        ]
    for res in evals or []:
        restricted = ", restricted target vocabulary (`restrict_vocab=True`)" if res.get("restrict_vocab") else ""
        lines += ["", _table(res, f"{res.get('split', 'val')}, first {res['lines']} lines{restricted}")]
    if test:
        lines += ["", _table(test, f"test_2016_flickr, all {test['lines']} lines")]
    if benchmark:
        lines += ["", _benchmark_table(benchmark)]
    lines += [
        "",
        "Usage:",
        "",
        "```python",
        "import ensemblekd  # registers the architecture with the Auto classes (does not import torch itself)",
        "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
        "tok = AutoTokenizer.from_pretrained('models/m30k-zeroshot')",
        "model = AutoModelForSeq2SeqLM.from_pretrained('models/m30k-zeroshot')",
        "ids = [[tok.convert_tokens_to_ids('__fr__')] + tok('Ein Hund rennt.')['input_ids']]",
        "import torch; out = model.generate(torch.tensor(ids), num_beams=1, max_new_tokens=40)",
        "print(tok.decode(out[0], skip_special_tokens=True))",
        "```",
        "",
        f"Exported from `{run}` snapshot `{snapshot.name}` by `examples/zeroshot_mt/export.py`.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


def export(run: Path, out: Path, snapshot: Path | None = None, data: Path | None = None, eval_test: bool = False,
           threads: int = 2, benchmark: Path | None = None, selection: str | None = None,
           eval_json: list[Path] = ()) -> Path:
    """Export `snapshot` (default: <run>/best.json's) of training run `run` into the model folder `out`.
    Card extras: `benchmark`, benchmark.py's results JSON of this model (summarised); `selection`, why this
    snapshot (when --snapshot overrides best.json); `eval_json`, evaluate.py --json results of the snapshot.
    `data`: the Multi30k folder (train.* for the target vocabulary, test_2016_flickr.* for `eval_test`)."""
    import torch
    from safetensors.torch import load_model
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    if data is None:
        raise ValueError("export: data= (the Multi30k folder holding train.{en,de,fr,cs}) is required")
    torch.set_num_threads(threads)
    run, out = Path(run), Path(out)
    if snapshot is None:
        best = run / "best.json"
        if not best.is_file():
            raise FileNotFoundError(f"{best}: no best snapshot recorded yet (no evaluation has run)")
        snapshot = Path(json.loads(best.read_text())["snapshot"])
    snapshot = Path(snapshot)
    if not snapshot.is_file():
        raise FileNotFoundError(f"{snapshot}: no such snapshot")
    bench = json.loads(Path(benchmark).read_text(encoding="utf-8")) if benchmark is not None else None
    evals = [json.loads(Path(f).read_text(encoding="utf-8")) for f in eval_json]
    for f, res in zip(eval_json, evals):  # checked before anything is written
        if Path(res.get("model", "")).name != snapshot.name:
            raise ValueError(f"--eval-json {f}: results of {res.get('model')}, not of {snapshot}")
        res.pop("_outputs", None)
    config = AutoConfig.from_pretrained(str(run))
    model = AutoModelForSeq2SeqLM.from_config(config)
    load_model(model, str(snapshot))
    model.generation_config.decoder_start_token_id = config.decoder_start_token_id
    model.generation_config.forced_bos_token_id = None
    tokenizer = AutoTokenizer.from_pretrained(str(run / "tokenizer"))

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.half().save_pretrained(str(tmp))
    cfg = json.loads((tmp / "config.json").read_text())
    cfg["dtype"] = "float32"
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    tokenizer.save_pretrained(str(tmp))
    (tmp / "ensemblekd_target_vocab.json").write_text(json.dumps(target_vocab(tokenizer, data)))

    model = AutoModelForSeq2SeqLM.from_pretrained(str(tmp))  # check the folder loads, in fp32
    if model.dtype != torch.float32:
        raise RuntimeError(f"{tmp}: reloads as {model.dtype}, expected float32")
    test = None
    if eval_test:
        test = evaluate(model, AutoTokenizer.from_pretrained(str(tmp)), load_split(data, "test_2016_flickr"))
        outputs = test.pop("_outputs")
        (run / "test_2016_flickr.outputs.json").write_text(json.dumps(outputs, ensure_ascii=False))
        (run / "test_2016_flickr.json").write_text(json.dumps(test, indent=1))
    n_params = sum(p.numel() for p in model.parameters())
    write_card(tmp, n_params, _eval_record(run, snapshot), test, run, snapshot, bench, selection, evals)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
