"""Run ``ensemblekd`` (under torchrun in the tests) with test-only faults injected from the environment.

* ``EKD_SLOW_DECODE=S``: every ``translate`` call sleeps S seconds first (so that a rank can be killed
  mid-decoding);
* ``EKD_DIE_AT_STEP=K``: rank 0 exits hard (``os._exit``) when training reaches step K, before that
  step's checkpoint is written.
"""
import os
import sys
import time

import ensemblekd.decoding.api as api
import ensemblekd.distill.mt.trainer as trainer
from ensemblekd.cli import main

slow = float(os.environ.get("EKD_SLOW_DECODE", "0"))
if slow:
    real = api.translate

    def slow_translate(*args, **kwargs):
        time.sleep(slow)
        return real(*args, **kwargs)

    api.translate = slow_translate

die = int(os.environ.get("EKD_DIE_AT_STEP", "0"))
if die:
    from transformers import TrainerCallback

    real_logs = trainer._logs_to_stderr

    class Die(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == die and args.process_index == 0:
                os._exit(17)

    def with_death(t, quiet):
        real_logs(t, quiet)
        t.add_callback(Die())

    trainer._logs_to_stderr = with_death

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
