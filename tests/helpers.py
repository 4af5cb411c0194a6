"""Test utilities: config composition, small data files, a tiny BERT checkpoint, probes."""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"

# Small but real: 300 SST-2 training sentences, two batches of training, one of validation;
# the whole 872-sentence test split is predicted so records are complete.
FAST = [
    "data.max_train_examples=300",
    "data.batch_size=16",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "model.tokenizer.vocab_size=2000",
]
SMALL_ENCODERS = {
    "cnn_lstm": ["model.encoder.embedding_dim=32", "model.encoder.num_filters=32",
                 "model.encoder.hidden_size=32"],
    "transformer": ["model.encoder.d_model=32", "model.encoder.ff_dim=64",
                    "model.encoder.num_heads=2"],
    "bert": [],
}


def compose_config(run_dir: Path, overrides: list[str], cache_dir: Path | None = None,
                   fast: bool = True) -> DictConfig:
    """The config `scripts/train.py` would build, with the run written to ``run_dir``."""
    model = next((o.split("=", 1)[1] for o in overrides if o.startswith("model=")), "cnn_lstm")
    defaults = FAST + SMALL_ENCODERS.get(model, []) if fast else []
    if model == "bert":
        defaults = [o for o in defaults if not o.startswith("model.tokenizer.")]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[
            f"paths.output_dir={run_dir}",
            f"paths.cache_dir={cache_dir or run_dir.parent / 'cache'}",
            *defaults, *overrides,
        ])


def write_tsv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_tiny_bert(directory: Path, texts: list[str]) -> Path:
    """A randomly initialized 2-layer BERT and its WordPiece tokenizer, as save_pretrained writes."""
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from datamodules.tokenization import WordPieceFromData

    backend = WordPieceFromData(vocab_size=2000).build(texts)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )
    config = BertConfig(vocab_size=backend.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                        pad_token_id=backend.token_to_id("[PAD]"))
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


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
