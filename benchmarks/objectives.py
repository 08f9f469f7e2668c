"""Training time per update of each distillation objective (issue 15), measured in one run, as ratios to SeqKD.

Every objective trains the shipped model on the same token-bucketed batches (the Multi30k sample embedded in
the package: de sources, the fr references as the teacher's outputs, the en references as the pivot texts of an
EBBS-2-style white-box teacher: direct + pivot via en), one process, one torch thread, the teacher the frozen
shipped model.  Each update is timed by a ``TrainerCallback`` (step begin to step end: forward, sampling,
teacher forwards, backward, optimizer); the first update of a run is a warm-up and not counted; a run's figure
is the median of the others, the reported figure the best run of ``--repeats`` (runs interleaved: objective 1,
2, ..., then again).  ``gkd`` with lambda 0.5 draws per batch, so its figure is one draw of that mix.

    python benchmarks/objectives.py [--steps 6] [--repeats 1] [--max-tokens 2048] [--objectives seqkd kl ...]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "m30k-zeroshot"
SAMPLE = ROOT / "ensemblekd" / "data" / "multi30k_sample"
# name -> TrainConfig fields (llmr: the setting the comparison kept, tuned on val)
OBJECTIVES = {
    "seqkd": {"loss": "seqkd"}, "kl": {"loss": "kl"}, "skl": {"loss": "skl"}, "js": {"loss": "js"},
    "gkd0.5": {"loss": "gkd", "gkd_lambda": 0.5}, "gkd1": {"loss": "gkd", "gkd_lambda": 1.0},
    "llmr": {"loss": "llmr", "llmr_next": "current", "llmr_scale": 100.0, "llmr_clip": 1.0, "kd_top_p": 0.5},
}


def examples():
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from ensemblekd.decoding.languages import get_adapter
    from ensemblekd.distill.mt import build_examples

    tok = AutoTokenizer.from_pretrained(MODEL)
    adapter = get_adapter(AutoModelForSeq2SeqLM.from_pretrained(MODEL), tok)
    read = lambda lang: (SAMPLE / f"test_2016_flickr.200.{lang}").read_text(encoding="utf-8").splitlines()  # noqa: E731
    records = [{"targets": [fr], "pivots": {"en": en}} for fr, en in zip(read("fr"), read("en"))]
    exs, _ = build_examples(adapter, tok, "de", "fr", read("de"), records, ["en"], True)
    return exs, adapter


def time_updates(name, exs, adapter, teacher, steps, max_tokens, tmp) -> list[float]:
    """Seconds of each update of one training run of objective ``name``."""
    from transformers import AutoModelForSeq2SeqLM, TrainerCallback

    from ensemblekd.distill.mt import TrainConfig, train_student

    times, start = [], [0.0]

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            start[0] = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - start[0])

    cfg = TrainConfig(max_steps=steps, lr=1e-5, max_tokens=max_tokens, device="cpu", save_every=10 ** 9,
                      logging_steps=10 ** 9, **OBJECTIVES[name])
    model = AutoModelForSeq2SeqLM.from_pretrained(MODEL)
    train_student(model, exs, tmp, cfg, pad_id=adapter.pad_token_id, eos_id=adapter.eos_token_id,
                  teacher=None if name == "seqkd" else teacher, quiet=True, callbacks=[Clock()])
    shutil.rmtree(tmp, ignore_errors=True)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=6, help="updates per run (the first is a warm-up)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.steps < 2 or args.repeats < 1:
        ap.error("--steps must be >= 2 (the first update is a warm-up) and --repeats >= 1")
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from ensemblekd._runtime import quiet_hf_progress

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="ekd-obj-"))
    names = list(dict.fromkeys(["seqkd", *args.objectives]))   # the reference is always measured
    runs = {n: [] for n in names}
    with quiet_hf_progress(True):
        exs, adapter = examples()
        teacher = AutoModelForSeq2SeqLM.from_pretrained(MODEL).eval()
        for r in range(args.repeats):
            for n in names:
                times = time_updates(n, exs, adapter, teacher, args.steps, args.max_tokens, tmp / f"{n}-{r}")
                runs[n].append(statistics.median(times[1:]))
    shutil.rmtree(tmp, ignore_errors=True)
    best = {n: min(v) for n, v in runs.items()}
    report = {"steps": args.steps, "max_tokens": args.max_tokens, "repeats": args.repeats, "runs_s": runs,
              "s_per_update": best, "ratio_to_seqkd": {n: best[n] / best["seqkd"] for n in names}}
    print(f"seconds per update, median of updates 2..{args.steps}, best of {args.repeats} run(s), batches of <= "
          f"{args.max_tokens} tokens, 1 process, 1 thread:")
    print(f"  {'objective':10s} {'s/update':>9s} {'x seqkd':>8s}")
    for n in names:
        print(f"  {n:10s} {best[n]:9.3f} {report['ratio_to_seqkd'][n]:7.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
