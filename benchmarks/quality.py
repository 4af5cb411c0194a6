"""Default configs on a full data set: test score and wall time per epoch for each model.

Run by hand (CPU; about 20 minutes per data set for the two from-scratch models):
    python benchmarks/quality.py --data sst2        # test accuracy
    python benchmarks/quality.py --data conll2003   # test entity F1
    python benchmarks/quality.py --data sst2 --summarize-only    # re-read finished runs
Prints a markdown table and writes docs/<data>_quality.png (validation score per epoch).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH_LINE = re.compile(r"epoch (\d+): .*?val/(?:acc|f1)=([0-9.]+).*\(([0-9.]+) s, (\d+) steps\)")
SCORE = {"sequence_classification": ("test/acc", "accuracy"),
         "token_classification": ("test/f1", "entity F1")}


def run_sweep(out: Path, data: str, models: str, seed: int, overrides: list[str]) -> None:
    subprocess.run([sys.executable, "scripts/train.py", "-m", f"data={data}", f"model={models}",
                    f"seed={seed}", f"hydra.sweep.dir={out}", "hydra.sweep.subdir=${model.name}",
                    "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
                    "trainer.accelerator=cpu", *overrides], cwd=ROOT, check=True)


def summarize(out: Path) -> list[dict]:
    rows = []
    for run_json in sorted(out.glob("*/run.json")):
        record = json.loads(run_json.read_text())
        log_lines = (run_json.parent / "train.log").read_text().splitlines()
        epochs = [tuple(float(x) for x in m.groups()) for m in map(EPOCH_LINE.search, log_lines) if m]
        metric, score_name = SCORE[record["task"]]
        rows.append({"model": record["model"], "score": record["metrics"][metric],
                     "score_name": score_name, "data": record["data"]["name"],
                     "val": [e[1] for e in epochs], "epoch_s": [e[2] for e in epochs],
                     "train_size": record["data"]["splits"]["train"]["size"],
                     "duration_s": record["duration_s"]})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for row in rows:
        ax.plot(range(1, len(row["val"]) + 1), row["val"], marker="o",
                label=f"{row['model']} (test {row['score_name']} {row['score']:.3f})")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {rows[0]['score_name']}")
    ax.set_title(f"{rows[0]['data']}: seed 1, 2-core CPU")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="sst2")
    parser.add_argument("--models", default="cnn_lstm,transformer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="sweep directory (default logs/bench/<data>)")
    parser.add_argument("--summarize-only", action="store_true")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    out = args.out or ROOT / "logs" / "bench" / args.data
    if not args.summarize_only:
        run_sweep(out, args.data, args.models, args.seed, args.overrides)
    rows = summarize(out)
    print(f"| model | train examples | test {rows[0]['score_name']} | s / epoch | epochs |")
    print("|---|---|---|---|---|")
    for row in rows:
        per_epoch = sum(row["epoch_s"]) / max(len(row["epoch_s"]), 1)
        print(f"| {row['model']} | {row['train_size']:,} | {row['score']:.3f} | "
              f"{per_epoch:.0f} | {len(row['epoch_s'])} |")
    figure = ROOT / "docs" / f"{args.data}_quality.png"
    plot(rows, figure)
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
