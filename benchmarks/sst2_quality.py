"""Default configs on full SST-2: test accuracy and wall time per epoch for each model.

Run by hand (about 20 minutes on a 2-core CPU for the two from-scratch models):
    python benchmarks/sst2_quality.py --out logs/bench/sst2_quality
    python benchmarks/sst2_quality.py --out DIR --summarize-only     # re-read finished runs
Prints a markdown table and writes docs/sst2_quality.png (validation accuracy per epoch).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(r"epoch (\d+): .*val/acc=([0-9.]+).*\(([0-9.]+) s, (\d+) steps\)")


def run_sweep(out: Path, models: str, seed: int) -> None:
    subprocess.run([sys.executable, "scripts/train.py", "-m", f"model={models}", f"seed={seed}",
                    f"hydra.sweep.dir={out}", "hydra.sweep.subdir=${model.name}",
                    "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                    "trainer.accelerator=cpu"], cwd=ROOT, check=True)


def summarize(out: Path) -> list[dict]:
    rows = []
    for run_json in sorted(out.glob("*/run.json")):
        record = json.loads(run_json.read_text())
        epochs = [tuple(float(x) for x in m.groups())
                  for m in map(EPOCH_LINE.search, (run_json.parent / "train.log").read_text()
                               .splitlines()) if m]
        rows.append({"model": record["model"], "test_acc": record["metrics"]["test/acc"],
                     "val_acc": [e[1] for e in epochs], "epoch_s": [e[2] for e in epochs],
                     "train_size": record["data"]["splits"]["train"]["size"],
                     "duration_s": record["duration_s"]})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for row in rows:
        epochs = range(1, len(row["val_acc"]) + 1)
        ax.plot(epochs, row["val_acc"], marker="o",
                label=f"{row['model']} (test acc {row['test_acc']:.3f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("SST-2 validation accuracy")
    ax.set_title("Default configs, full SST-2, seed 1, CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "sst2_quality")
    parser.add_argument("--models", default="cnn_lstm,transformer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--summarize-only", action="store_true")
    parser.add_argument("--figure", type=Path, default=ROOT / "docs" / "sst2_quality.png")
    args = parser.parse_args()
    if not args.summarize_only:
        run_sweep(args.out, args.models, args.seed)
    rows = summarize(args.out)
    print("| model | train examples | test accuracy | s / epoch | epochs | total s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        per_epoch = sum(row["epoch_s"]) / max(len(row["epoch_s"]), 1)
        print(f"| {row['model']} | {row['train_size']:,} | {row['test_acc']:.3f} | "
              f"{per_epoch:.0f} | {len(row['epoch_s'])} | {row['duration_s']:.0f} |")
    plot(rows, args.figure)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
