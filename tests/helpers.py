"""Test utilities: config composition, small data files, a tiny pretrained BERT, probes."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from homogenization.training.compose import compose_train_config

REPO_ROOT = Path(__file__).resolve().parents[1]

# Small but real: two batches of training, one of validation. Labelled data: 300 training
# examples, and the whole test split is predicted so records are complete.
FAST = [
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
]
FAST_LABELLED_DATA = ["data.max_train_examples=300", "data.batch_size=16"]
SMALL_MODELS = {
    "cnn_lstm": ["model.tokenizer.vocab_size=2000", "model.encoder.embedding_dim=32",
                 "model.encoder.num_filters=32", "model.encoder.hidden_size=32"],
    "transformer": ["model.tokenizer.vocab_size=2000", "model.encoder.d_model=32",
                    "model.encoder.ff_dim=64", "model.encoder.num_heads=2"],
    "bert": [],
    "bert_pretrain": ["model.tokenizer.vocab_size=2000", "model/size=tiny"],
}


def choice(overrides: list[str], group: str, default: str) -> str:
    return next((o.split("=", 1)[1] for o in overrides if o.startswith(f"{group}=")), default)


def compose_config(run_dir: Path, overrides: list[str], cache_dir: Path | None = None,
                   fast: bool = True) -> DictConfig:
    """The config `scripts/train.py` would build, with the run written to ``run_dir``; ``fast``
    adds the small-but-real settings above."""
    defaults = []
    if fast:
        model = choice(overrides, "model", "cnn_lstm")
        defaults = FAST + SMALL_MODELS.get(model, [])
        if choice(overrides, "data", "demo") != "wikitext2":
            defaults += FAST_LABELLED_DATA
    return compose_train_config(run_dir, [*defaults, *overrides], cache_dir)


def write_tsv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def generated_corpus(root: Path) -> Path:
    """A text corpus for masked-LM pretraining: the generated sentiment task's training sentences,
    one per line, in ``root/corpus.txt`` (the demo data written to ``root/generated``)."""
    from datamodules.demo_data import generate

    sentences = (generate("sentiment", root / "generated") / "train.tsv").read_text().splitlines()[1:]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(line.split("\t")[0] for line in sentences) + "\n")
    return corpus


def pretrain_tiny_bert(run_dir: Path, extra_corpus: list[Path] = ()) -> Path:
    """A few steps of the project's own masked-LM pretraining (BERT-Tiny, 2,000-token vocabulary)
    on the generated demo texts (both tasks) and ``extra_corpus`` files (WikiText-2 when the real
    data is there, so the vocabulary also covers real text); returns the exported checkpoint."""
    from datamodules.demo_data import generate
    from homogenization.training.recipe import train

    generated = Path(run_dir).parent / "generated"
    sentiment = (generate("sentiment", generated) / "train.tsv").read_text(encoding="utf-8")
    entities = (generate("entities", generated) / "train.conll").read_text(encoding="utf-8")
    lines = [line.split("\t")[0] for line in sentiment.splitlines()[1:]]
    lines += [" ".join(row.split(" ")[0] for row in block.splitlines()) for block in entities.split("\n\n")]
    corpus = Path(run_dir).parent / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = train(compose_config(run_dir, [
        "data=wikitext2", f"data.files=[{','.join(map(str, [corpus, *extra_corpus]))}]",
        "model=bert_pretrain", "data.block_size=64",
        "trainer.limit_val_batches=2",
    ]))
    return run_dir / record["export"]


class TrainingProbe(pl.Callback):
    """Writes the initial weights and the example ids of every training batch to ``out_dir``."""

    def __init__(self, out_dir: str):
        self.out_dir = Path(out_dir)
        self.batches: list[list[int]] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(pl_module.state_dict(), self.out_dir / "initial_weights.pt")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches.append(batch["example_id"].tolist())

    def on_fit_end(self, trainer, pl_module) -> None:
        (self.out_dir / "batches.json").write_text(json.dumps(self.batches))
