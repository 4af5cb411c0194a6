"""Token classification (named entities): one label per word, from its first sub-word."""

from __future__ import annotations

import torch
from torch import nn

from homogenization.core.errors import UserError
from lightning_modules.entity_metrics import entity_scores, report_text, split_sentences, tag_scores
from lightning_modules.iob_decoding import allowed_transitions, decode_words
from lightning_modules.task import ClassificationTask
from lightning_modules.test_records import gather_rows


class TokenClassifier(ClassificationTask):
    """Cross-entropy on each word's first sub-word (other sub-words carry label -100).

    Entity precision/recall/F1 (micro and per type) with seqeval for val and test. The run record
    gets one row per test word: ``sentence_id, word_index, label, pred, probs`` and the hidden
    state of the word's first sub-word; ``test_report.txt`` holds the per-entity and per-tag table.
    ``decoding``: ``iob2`` predicts the most probable valid IOB2 sequence of each sentence
    (``iob_decoding.py``), ``argmax`` each word's most probable tag on its own.
    """

    key_columns = ("sentence_id", "word_index")

    def __init__(self, *args, decoding: str = "iob2", **kwargs):
        super().__init__(*args, **kwargs)
        if decoding not in ("iob2", "argmax"):
            raise UserError(f"task.module.decoding={decoding!r}: choose iob2 or argmax.")
        self.decoding = decoding
        self._transitions = allowed_transitions(self.label_names)
        self._val_sentences: list[tuple[list[int], list[int]]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        """Return (logits [B, T, C], hidden states [B, T, H]), one per sub-word."""
        hidden = self.encoder.token_representations(input_ids, attention_mask)
        return self.head(hidden), hidden

    def _step(self, batch: dict[str, torch.Tensor]):
        logits, hidden = self(batch["input_ids"], batch["attention_mask"])
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(),
                                           ignore_index=-100)
        return loss, logits, hidden

    def _predict_words(self, logits: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Predicted tag of every word (``words``: first sub-words), row after row."""
        if self.decoding == "argmax":
            return logits[words].argmax(dim=-1)
        return decode_words(logits[words], words.sum(dim=1), *self._transitions)

    def _tags(self, ids) -> list[str]:
        return [self.label_names[i] for i in ids]

    def on_validation_epoch_start(self) -> None:
        self._val_sentences = []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits, _ = self._step(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["input_ids"]),
                 sync_dist=True)
        words = batch["labels"] != -100
        counts = words.sum(dim=1).tolist()
        gold = batch["labels"][words].split(counts)
        predicted = self._predict_words(logits, words).split(counts)
        self._val_sentences.extend((g.tolist(), p.tolist()) for g, p in zip(gold, predicted))

    def on_validation_epoch_end(self) -> None:
        if not self._val_sentences:
            return
        gold = [self._tags(g) for g, _ in self._val_sentences]
        pred = [self._tags(p) for _, p in self._val_sentences]
        scores = {f"val/{name}": value for name, value in entity_scores(gold, pred).items()}
        headline = ("val/precision", "val/recall", "val/f1")
        self.log_dict({name: scores.pop(name) for name in headline}, prog_bar=True)
        self.log_dict(scores)  # per entity type
        self._val_sentences = []

    def test_rows_of(self, batch: dict[str, torch.Tensor], with_layers: bool = True):
        """(loss, logits, the batch's test rows: one per word, from its first sub-word)."""
        loss, logits, hidden = self._step(batch)
        words = batch["labels"] != -100
        rows, _ = words.nonzero(as_tuple=True)
        return loss, logits, {
            "sentence_id": batch["example_id"][rows],
            "word_index": batch["word_index"][words],
            "label": batch["labels"][words],
            "pred": self._predict_words(logits, words),
            "probs": logits[words].float().softmax(dim=-1),
            "representation": hidden[words].float(),
            **(self.layer_rows(batch, per_token=True, select=lambda states: states[words])
               if with_layers else {}),
        }

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        loss, _, rows = self.test_rows_of(batch)
        self.log("test/loss", loss, batch_size=len(batch["input_ids"]), sync_dist=True)
        self._test_outputs.append(rows)

    def on_test_epoch_end(self) -> None:
        outputs, self._test_outputs = self._test_outputs, []
        if not outputs:
            return
        rows = gather_rows(self, outputs, key=self.key_columns)
        if rows is None:  # not rank 0
            return
        gold = [self._tags(s) for s in split_sentences(rows["sentence_id"], rows["label"])]
        pred = [self._tags(s) for s in split_sentences(rows["sentence_id"], rows["pred"])]
        tags = tag_scores(rows["label"], rows["pred"], self.label_names)
        metrics = {f"test/{name}": value for name, value in entity_scores(gold, pred).items()}
        metrics.update({f"test/tag_f1_{name}": row["f1"] for name, row in tags.items()})
        self.log_dict(metrics, rank_zero_only=True)
        self.test_rows = rows
        self.test_report = report_text(gold, pred, tags)
