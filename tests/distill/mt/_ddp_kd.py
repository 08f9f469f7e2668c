"""Train a tiny student with one of the on-policy losses, directly with ``train_student`` (under torchrun in
test_distributed_kd.py): ``python _ddp_kd.py OUT LOSS [DIE_AT_STEP]``.

Every example is the same sentence pair, so every rank holds the same rows; the student's samples of each rank
are written to ``OUT/samples-<rank>.pt`` (the encoder inputs and the sampled sequences, per call).  With
DIE_AT_STEP, rank 0 exits hard when training reaches that step (before its checkpoint is written)."""
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import ensemblekd.distill.mt.losses as L  # noqa: E402
from ensemblekd.distill.mt.data import TrainExample  # noqa: E402
from ensemblekd.distill.mt.trainer import TrainConfig, train_student  # noqa: E402
from tests.distill.mt.test_trainer import EOS, PAD, START, tiny_m2m  # noqa: E402


def main(out: str, loss: str, die: int = 0) -> None:
    from transformers import TrainerCallback

    out = Path(out)
    rank = int(os.environ.get("RANK", "0"))
    torch.set_num_threads(1)
    samples = []
    real = L.hf_sample_prefixes

    def spy(model, max_new_tokens, **kw):
        seq = real(model, max_new_tokens, **kw)
        samples.append((kw["input_ids"].clone(), seq.clone()))
        return seq

    L.hf_sample_prefixes = spy
    ex = TrainExample((7, 8, 9, EOS), (START, 5), (10, 11, EOS), ((7, 8, 9, EOS), (9, 8, EOS)))
    cfg = TrainConfig(max_steps=4, lr=1e-2, max_tokens=12, save_every=1, seed=7, device="cpu", loss=loss,
                      kd_max_new_tokens=4, logging_steps=1, gkd_lambda=0.5)

    class Die(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == die and args.process_index == 0:
                os._exit(17)

    train_student(tiny_m2m(dropout=0.0), [ex] * 8, out / "student", cfg, pad_id=PAD, eos_id=EOS,
                  teacher=tiny_m2m(dropout=0.0, seed=4), quiet=True, callbacks=[Die()] if die else [])
    torch.save(samples, out / f"samples-{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
