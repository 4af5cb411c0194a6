"""Start-up cost, run by hand: `python benchmarks/startup.py [--repeats 3]`.

Times (median, min, max over repeats): `scripts/train.py --cfg job` (compose and print only),
and from the command to the first training step of a cnn_lstm run on SST-2 with a warm
tokenization cache; and lists the heavy libraries the first command imports.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("transformers", "wandb", "matplotlib", "pandas", "torch", "pytorch_lightning")


def seconds(command: list[str]) -> tuple[float, str]:
    started = time.time()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return time.time() - started, result.stdout + result.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    train = [sys.executable, "scripts/train.py"]
    with tempfile.TemporaryDirectory() as scratch:
        run = [*train, "data.max_train_examples=2000", "trainer.max_steps=1", "trainer.limit_val_batches=0",
               "trainer.num_sanity_val_steps=0", "callbacks.progress_bar=null", f"paths.log_dir={scratch}",
               "trainer.enable_progress_bar=false", "+callbacks.first_step._target_=benchmarks.first_step."
               "StampFirstStep"]
        seconds(run)   # warm the tokenization cache
        cfg_times, first_step = [], []
        for _ in range(args.repeats):
            cfg_times.append(seconds([*train, "--cfg", "job"])[0])
            started = time.time()
            _, output = seconds(run)
            stamp = float(output.split("FIRST_STEP_AT ", 1)[1].split()[0])
            first_step.append(stamp - started)
    _, imports = seconds([sys.executable, "-X", "importtime", "scripts/train.py", "--cfg", "job"])
    imported = sorted({line.rsplit("|", 1)[-1].strip().split(".")[0] for line in imports.splitlines()
                       if line.startswith("import time:")} & set(HEAVY))
    for name, values in (("--cfg job", cfg_times), ("command to first training step", first_step)):
        print(f"| {name} | {statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f}) |")
    print(f"heavy libraries imported by --cfg job: {', '.join(imported) or 'none'}")


if __name__ == "__main__":
    main()
