"""Does length bucketing speed training without changing results beyond seed noise? Run by hand:

    python benchmarks/bucketing.py                      # SST-2, 10k sentences, 3 epochs, 5 seeds
    python benchmarks/bucketing.py --summarize-only     # re-read finished runs

Trains each model with data.bucket_batches=0 (padded to the longest in a random batch) and
=50 for the same seeds, one job at a time, and prints per model and setting: test score (mean and
standard deviation over seeds), seconds per epoch, and the paired per-seed difference of the
scores next to the seed standard deviation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quality import EPOCH_LINE, SCORE  # noqa: E402


def run_sweep(out: Path, args) -> None:
    subprocess.run([sys.executable, "scripts/train.py", "-m", f"data={args.data}",
                    f"model={args.models}", f"seed={args.seeds}",
                    f"data.bucket_batches=0,{args.bucket_batches}",
                    f"data.max_train_examples={args.train_examples}",
                    f"trainer.max_epochs={args.epochs}", f"hydra.sweep.dir={out}",
                    "hydra.sweep.subdir=${model.name}-bucket${data.bucket_batches}-seed${seed}",
                    "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                    "trainer.accelerator=cpu"], cwd=ROOT, check=True)


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def summarize(out: Path) -> None:
    runs = defaultdict(dict)  # (model, bucket) -> seed -> (score, seconds per epoch)
    for run_json in sorted(out.glob("*/run.json")):
        record = json.loads(run_json.read_text())
        seconds = [float(m.group(3)) for m in map(EPOCH_LINE.search,
                   (run_json.parent / "train.log").read_text().splitlines()) if m]
        bucket = record["config"]["data"]["bucket_batches"]
        score = record["metrics"][SCORE[record["task"]][0]]
        runs[record["model"], bucket][record["seed"]] = (score, statistics.mean(seconds))
    print("| model | bucket_batches | test score, mean ± sd over seeds | s / epoch "
          "| paired difference (bucketed − plain) |")
    print("|---|---|---|---|---|")
    for (model, bucket), by_seed in sorted(runs.items()):
        scores = [score for score, _ in by_seed.values()]
        seconds = statistics.mean(s for _, s in by_seed.values())
        difference = ""
        plain = runs.get((model, 0), {})
        if bucket and plain:
            pairs = [by_seed[seed][0] - plain[seed][0] for seed in by_seed if seed in plain]
            difference = (f"{statistics.mean(pairs):+.4f} ± {spread(pairs):.4f} "
                          f"({len(pairs)} seeds)")
        print(f"| {model} | {bucket} | {statistics.mean(scores):.4f} ± {spread(scores):.4f} "
              f"(n={len(scores)}) | {seconds:.1f} | {difference} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="sst2")
    parser.add_argument("--models", default="cnn_lstm,transformer")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--bucket-batches", type=int, default=50)
    parser.add_argument("--train-examples", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "bucketing")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    if not args.summarize_only:
        run_sweep(args.out / args.data, args)
    summarize(args.out / args.data)


if __name__ == "__main__":
    main()
