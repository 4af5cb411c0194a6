"""Masked-language-model pretraining of a BERT built from a size preset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from homogenization.core.errors import UserError
from lightning_modules.task import Finished, Task


def new_bert_for_mlm(vocab_size: int, pad_token_id: int, hidden_size: int = 256,
                     num_layers: int = 4, num_heads: int = 4, intermediate_size: int | None = None,
                     max_positions: int = 512, dropout: float = 0.1) -> nn.Module:
    """A randomly initialized ``BertForMaskedLM`` (the sizes come from conf/model/size)."""
    from transformers import BertConfig, BertForMaskedLM

    if hidden_size % num_heads:
        raise UserError(f"model.size: hidden_size={hidden_size} is not divisible by "
                        f"num_heads={num_heads}.")
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=max_positions, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout, pad_token_id=pad_token_id,
    )
    return BertForMaskedLM(config)


def pretrained_bert_for_mlm(pretrained: str, vocab_size: int, pad_token_id: int) -> nn.Module:
    """A pretrained BERT whose masked-LM pretraining goes on: its encoder's weights as they are, a
    fresh masked-LM head (initialized from seed_init, so K seeds give K heads), its own tokenizer.
    The starting point of experiment=backbone_study's sibling backbones (``start_from``)."""
    from safetensors import SafetensorError
    from transformers import BertForMaskedLM

    from homogenization.core.pretrained import check_pretrained, load_error
    from lightning_modules.encoders.bert import weights_sha256

    folder = check_pretrained(pretrained)
    try:
        model = BertForMaskedLM.from_pretrained(folder)
    except (OSError, ValueError, SafetensorError) as error:
        raise load_error(pretrained, error) from None
    if vocab_size > model.config.vocab_size:
        raise UserError(f"model.pretrained={pretrained}: its tokenizer has {vocab_size} tokens but the model "
                        f"only {model.config.vocab_size} embeddings; the tokenizer belongs to another model.")
    model.train()
    model.identity = {"pretrained": folder, "init": "pretrained", "sha256": weights_sha256(model.bert),
                      "finetune": "masked_lm"}
    return model


class MaskedLanguageModel(Task):
    """Trains ``encoder`` (a ``BertForMaskedLM``) on masked blocks; logs loss and perplexity
    (exp of the mean held-out loss per masked token). ``export`` writes a Hugging Face checkpoint
    that ``model=bert model.pretrained=<dir>`` loads unchanged."""

    def __init__(self, encoder: nn.Module, optimizer: Callable, scheduler: Callable | None = None):
        super().__init__(optimizer, scheduler)
        self.encoder = encoder
        self.val_loss = MeanMetric()

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.encoder(input_ids=batch["input_ids"], labels=batch["labels"]).loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss = self.encoder(input_ids=batch["input_ids"], labels=batch["labels"]).loss
        self.val_loss.update(loss, weight=(batch["labels"] != -100).sum())

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()
        self.val_loss.reset()
        self.log_dict({"val/loss": loss, "val/perplexity": torch.exp(loss)}, prog_bar=True)

    def finish(self, trainer: pl.Trainer, datamodule, run_dir: Path, best: str | None) -> Finished:
        """Report the best checkpoint's held-out loss and export it with save_pretrained."""
        metrics = trainer.validate(self, datamodule=datamodule, ckpt_path=best, weights_only=True)[0]
        export = None
        if trainer.is_global_zero:
            export = self.export(Path(run_dir) / "pretrained", datamodule.hf_tokenizer())
        return Finished(metrics={name: float(value) for name, value in metrics.items()}, checkpoint=best,
                        export=export)

    def export(self, directory: Path, tokenizer) -> Path:
        """``save_pretrained`` (safetensors) of the model and its tokenizer."""
        directory = Path(directory)
        self.encoder.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        return directory

