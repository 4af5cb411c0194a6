"""The worked example of docs/external_models.md, measured for the README: predictions of models
trained elsewhere (scikit-learn bag-of-words classifiers, standing in for any predictions file) on
the SST-2 test split, in one CSV, imported with homog-import and analysed with CNN-LSTM runs
trained here on the same test items.

    python benchmarks/external_models.py --out /tmp/external      # about 10 minutes on 2 CPU cores

Needs scikit-learn (a test dependency) and the SST-2 files (HOMOG_DATA_DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from datamodules.readers import read_labelled_table

LABELS = ["negative", "positive"]


def external_predictions(data_dir: Path, train_examples: int) -> pd.DataFrame:
    """A long table: five bag-of-words classifiers' answers and probabilities on SST-2's test split."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    def read(split):
        return read_labelled_table(data_dir / "sst2" / f"{split}.tsv", text_column="sentence",
                                   label_column="label", quotechar=None)

    train, test = read("train"), read("test")
    keep = np.random.default_rng(0).permutation(len(train.texts))[:train_examples]
    texts, labels = [train.texts[i] for i in keep], [int(train.labels[i]) for i in keep]
    models = {
        "logreg-unigram": make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)),
        "logreg-bigram": make_pipeline(TfidfVectorizer(ngram_range=(1, 2)),
                                       LogisticRegression(max_iter=1000)),
        "logreg-char": make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)),
                                     LogisticRegression(max_iter=1000)),
        "naive-bayes": make_pipeline(CountVectorizer(), MultinomialNB()),
        "naive-bayes-bigram": make_pipeline(CountVectorizer(ngram_range=(1, 2)), MultinomialNB()),
    }
    rows = []
    for name, model in models.items():
        probs = model.fit(texts, labels).predict_proba(test.texts)
        for item, (text, gold, p) in enumerate(zip(test.texts, test.labels, probs)):
            rows.append({"model": name, "item": item, "text": text, "gold": LABELS[int(gold)],
                         "prediction": LABELS[int(p.argmax())], "probs": json.dumps(p.tolist())})
    return pd.DataFrame(rows)


def command(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train-examples", type=int, default=10_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("HOMOG_DATA_DIR", "../shared/data"))
    started = time.monotonic()
    command("homogenization.cli.train", "-m", "data=sst2", "model=cnn_lstm", f"seed={args.seeds}",
            f"data.max_train_examples={args.train_examples}", f"trainer.max_epochs={args.epochs}",
            f"hydra.sweep.dir={args.out / 'trained'}")
    trained = time.monotonic() - started
    external_predictions(data_dir, args.train_examples).to_csv(args.out / "answers.csv", index=False)
    command("homogenization.cli.import_predictions", f"table={args.out / 'answers.csv'}",
            f"out={args.out / 'imported'}", "columns.text=text", "columns.probabilities=probs",
            f"labels=[{','.join(LABELS)}]")
    command("homogenization.cli.analyze", f"runs=[{args.out / 'trained'},{args.out / 'imported'}]",
            f"out={args.out / 'report'}")
    print(f"training {trained:.0f} s, everything {time.monotonic() - started:.0f} s")
    pairs = pd.read_csv(args.out / "report" / "pairs.csv")
    external = pairs.group_a.str.contains("-") & pairs.group_b.str.contains("-")
    trained_pairs = (pairs.group_a == "cnn_lstm") & (pairs.group_b == "cnn_lstm")
    mixed = ~external & ~trained_pairs
    for name, mask in (("external x external", external), ("cnn_lstm x cnn_lstm", trained_pairs),
                       ("external x cnn_lstm", mixed)):
        chosen = pairs[mask]
        print(f"| {name} | {len(chosen)} | {chosen.error_consistency.mean():.3f} "
              f"| {chosen.capa.mean():.3f} |")


if __name__ == "__main__":
    main()
