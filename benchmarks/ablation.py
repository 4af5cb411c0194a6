"""Paired ablation: one config setting, two or more values, the same seeds. Run by hand:

    python benchmarks/ablation.py       # length bucketing: data.bucket_batches=0,50 (SST-2, 10k
                                        # sentences, 3 epochs, 5 seeds)
    python benchmarks/ablation.py --setting model.encoder.position --values absolute,relative \
        --models transformer --seeds 1,2,3
    python benchmarks/ablation.py --summarize-only      # re-read finished runs

Trains each model with each value for the same seeds, one job at a time, and prints per model
and value: test score (mean and standard deviation over seeds), seconds per epoch, and the paired
per-seed difference from the first value next to the seed standard deviation.
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
from homogenization.analysis.runs.discovery import config_value  # noqa: E402
from homogenization.core.run_record import RunRecord  # noqa: E402


def run_sweep(out: Path, args) -> None:
    subprocess.run([sys.executable, "scripts/train.py", "-m", f"data={args.data}",
                    f"model={args.models}", f"seed={args.seeds}",
                    f"{args.setting}={args.values}",
                    f"data.max_train_examples={args.train_examples}",
                    f"trainer.max_epochs={args.epochs}", f"hydra.sweep.dir={out}",
                    f"hydra.sweep.subdir=${{model.name}}-${{{args.setting}}}-seed${{seed}}",
                    "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                    "trainer.accelerator=cpu"], cwd=ROOT, check=True)


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def summarize(out: Path, setting: str, values: list[str]) -> None:
    runs = defaultdict(dict)  # (model, value) -> seed -> (score, seconds per epoch)
    for run_json in sorted(out.glob("*/run.json")):
        record = RunRecord.from_dict(json.loads(run_json.read_text()))
        seconds = [float(m.group(3)) for m in map(EPOCH_LINE.search,
                   (run_json.parent / "train.log").read_text().splitlines()) if m]
        value = str(config_value(record, setting))
        score = record.metrics[SCORE[record.task][0]]
        runs[record.model, value][record.seed] = (score, statistics.mean(seconds))
    order = {value: index for index, value in enumerate(values)}
    print(f"| model | {setting} | test score, mean ± sd over seeds | s / epoch "
          f"| paired difference (− {values[0]}) |")
    print("|---|---|---|---|---|")
    for (model, value), by_seed in sorted(runs.items(),
                                          key=lambda item: (item[0][0], order.get(item[0][1], 99))):
        scores = [score for score, _ in by_seed.values()]
        seconds = statistics.mean(s for _, s in by_seed.values())
        difference = ""
        baseline = runs.get((model, values[0]), {})
        if value != values[0] and baseline:
            pairs = [by_seed[seed][0] - baseline[seed][0] for seed in by_seed if seed in baseline]
            difference = (f"{statistics.mean(pairs):+.4f} ± {spread(pairs):.4f} "
                          f"({len(pairs)} seeds)")
        print(f"| {model} | {value} | {statistics.mean(scores):.4f} ± {spread(scores):.4f} "
              f"(n={len(scores)}) | {seconds:.1f} | {difference} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="sst2")
    parser.add_argument("--models", default="cnn_lstm,transformer")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--setting", default="data.bucket_batches", help="a config key")
    parser.add_argument("--values", default="0,50", help="comma-separated; the first is the "
                        "baseline of the paired differences")
    parser.add_argument("--train-examples", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "ablation")
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()
    out = args.out / args.data / args.setting
    if not args.summarize_only:
        run_sweep(out, args)
    summarize(out, args.setting, args.values.split(","))


if __name__ == "__main__":
    main()
