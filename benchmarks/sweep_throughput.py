"""Sweep throughput on this machine, run by hand: a 3 models x 2 seeds SST-2 sweep (2,000
training sentences, 1 epoch per job), sequential (basic launcher) versus 2 parallel jobs
(joblib, torch threads = cores / 2), in jobs per hour.

    python benchmarks/sweep_throughput.py [--backbone <save_pretrained dir>]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BACKBONE = ROOT / "logs" / "bench" / "pretrain3" / "pretrain" / "pretrained"


def sweep_seconds(launcher: list[str], backbone: Path, out: Path) -> float:
    command = [sys.executable, "scripts/train.py", "-m", "model=cnn_lstm,transformer,bert", "seed=1,2",
               f"backbone={backbone}", "data.max_train_examples=2000", "trainer.max_epochs=1",
               "trainer.accelerator=cpu", "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
               f"hydra.sweep.dir={out}", *launcher]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", type=Path, default=DEFAULT_BACKBONE,
                        help="a save_pretrained directory (default: the pretraining benchmark's)")
    args = parser.parse_args()
    if not (args.backbone / "config.json").is_file():
        sys.exit(f"--backbone {args.backbone}: no Hugging Face checkpoint there. Run "
                 "`python benchmarks/pretraining.py` first, or pass a save_pretrained directory.")
    with tempfile.TemporaryDirectory() as scratch:
        sweep_seconds([], args.backbone, Path(scratch) / "warm")   # fill the tokenization cache
        for name, launcher in (("sequential", []), ("joblib, 2 jobs", ["hydra/launcher=parallel"])):
            seconds = sweep_seconds(launcher, args.backbone, Path(scratch) / name.split(",")[0])
            print(f"| {name} | {seconds:.0f} s | {6 * 3600 / seconds:.0f} jobs/hour |", flush=True)


if __name__ == "__main__":
    main()
