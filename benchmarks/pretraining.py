"""Evidence for the offline foundation-model path, run by hand on CPU:

1. masked-LM pretraining (experiment=pretrain_bert): held-out loss and perplexity per check;
2. SST-2 test accuracy of that BERT fine-tuned, versus the identical architecture and tokenizer
   from random initialization (model.init=random), with 1,000 training examples and with all.

    python benchmarks/pretraining.py                       # everything (about an hour on 2 cores)
    python benchmarks/pretraining.py --sizes 1000          # skip the full-data fine-tuning
    python benchmarks/pretraining.py --summarize-only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["callbacks.progress_bar=null", "trainer.enable_progress_bar=false", "trainer.accelerator=cpu"]


def train(run_dir: Path, *overrides: str) -> None:
    if (run_dir / "run.json").exists():
        return
    subprocess.run([sys.executable, "scripts/train.py", f"hydra.run.dir={run_dir}", *QUIET,
                    *overrides], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "bench" / "pretraining")
    parser.add_argument("--sizes", default="1000,all", help="SST-2 training sizes to fine-tune on")
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--summarize-only", action="store_true")
    args = parser.parse_args()

    pretrain_dir = args.out / "pretrain"
    sizes = args.sizes.split(",")
    if not args.summarize_only:
        train(pretrain_dir, "experiment=pretrain_bert", "logger=csv")
        for size in sizes:
            for init in ("pretrained", "random"):
                limit = "null" if size == "all" else size
                train(args.out / f"sst2-{size}-{init}", "model=bert", "data=sst2",
                      f"model.pretrained={pretrain_dir / 'pretrained'}", f"model.init={init}",
                      f"data.max_train_examples={limit}",
                      f"trainer.max_epochs={args.finetune_epochs}")

    curve = pd.read_csv(pretrain_dir / "csv" / "metrics.csv")
    curve = curve.dropna(subset=["val/loss"])[["epoch", "step", "val/loss", "val/perplexity"]]
    pretrain = json.loads((pretrain_dir / "run.json").read_text())
    print(f"Pretraining ({pretrain['config']['model']['name']}, "
          f"size {pretrain['config']['model']['size']}, {pretrain['duration_s'] / 60:.1f} min):")
    print(curve.to_string(index=False, float_format="%.3f"))
    print("\n| SST-2 training examples | pretrained | random init |\n|---|---|---|")
    for size in sizes:
        scores = []
        for init in ("pretrained", "random"):
            run_json = args.out / f"sst2-{size}-{init}" / "run.json"
            scores.append(f"{json.loads(run_json.read_text())['metrics']['test/acc']:.3f}"
                          if run_json.exists() else "-")
        print(f"| {size} | {scores[0]} | {scores[1]} |")


if __name__ == "__main__":
    main()
