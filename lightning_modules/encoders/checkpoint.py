"""A fine-tuned Hugging Face classifier evaluated as it is: its own encoder, its own head and its
own labels (``model=finetuned checkpoint=<dir or hub name>``), never trained here.

The run records what the checkpoint's head reads as the representation: for sequence
classification the pooled output of BERT-family models (the pooler on [CLS]) or the [CLS] hidden
state of DistilBERT and RoBERTa; for token classification every token's last hidden state. The
head's outputs are reordered to the data's labels: by name, or through ``label_map``
(checkpoint label -> data label), and a label one side lacks is refused.
"""

from __future__ import annotations

import torch
from safetensors import SafetensorError
from torch import nn

from homogenization.core.errors import UserError
from homogenization.core.pretrained import (
    check_finite_weights,
    check_pretrained,
    load_error,
    usable_positions,
)
from lightning_modules.encoders.bert import weights_sha256
from lightning_modules.encoders.pooling import check_pooling, pool

HEAD_KINDS = {"ForSequenceClassification": "sequence_classification",
              "ForTokenClassification": "token_classification"}
FAMILIES = ("bert", "distilbert", "roberta")


class Reordered(nn.Module):
    """A head whose outputs are taken in another order (the data's labels)."""

    def __init__(self, head: nn.Module, order: list[int]):
        super().__init__()
        self.inner = head
        self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.inner(features)[..., self.order]


class RobertaSequenceHead(nn.Module):
    """RoBERTa's classification head reads the [CLS] state of a sequence: give it one."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier

    def forward(self, cls_state: torch.Tensor) -> torch.Tensor:
        return self.classifier(cls_state[:, None])


def head_kind(config, checkpoint: str) -> str:
    kinds = {HEAD_KINDS[suffix] for name in (config.architectures or []) for suffix in HEAD_KINDS
             if name.endswith(suffix)}
    if len(kinds) != 1:
        raise UserError(f"checkpoint={checkpoint}: its config.json names no classification head "
                        f"(architectures: {config.architectures}); model=finetuned evaluates a fine-tuned "
                        "classifier as it is. To fine-tune a backbone here, use model=bert backbone=...")
    return kinds.pop()


def label_order(checkpoint_labels: list[str], data_labels: list[str], label_map: dict | None,
                checkpoint: str) -> list[int]:
    """For each data label, the index of the checkpoint output that predicts it."""
    mapped = [str((label_map or {}).get(name, name)) for name in checkpoint_labels]
    unknown_keys = sorted(set(label_map or {}) - set(checkpoint_labels))
    if unknown_keys:
        raise UserError(f"model.label_map: {unknown_keys} are not labels of checkpoint={checkpoint} "
                        f"(it has {checkpoint_labels})")
    if len(checkpoint_labels) != len(data_labels):
        raise UserError(f"checkpoint={checkpoint} predicts {len(checkpoint_labels)} labels "
                        f"{checkpoint_labels} but the data has {len(data_labels)} {data_labels}: a label map "
                        "renames labels, it cannot merge or invent them. Evaluate it on data with its labels "
                        "(data.label_names in the checkpoint's order), or fine-tune a classifier for these "
                        "labels with model=bert backbone=...")
    lacking, extra = [n for n in data_labels if n not in mapped], [n for n in mapped if n not in data_labels]
    if lacking or extra or len(set(mapped)) != len(mapped):
        raise UserError(f"checkpoint={checkpoint} predicts {mapped} but the data's labels are "
                        f"{data_labels}; map each checkpoint label to a data label with "
                        "model.label_map={CHECKPOINT: data, ...}")
    return [mapped.index(name) for name in data_labels]


def check_nothing_fresh(loading: dict, checkpoint: str) -> None:
    """Refuse a checkpoint some of whose weights transformers initialized at random while loading
    it (missing from its files, or of another shape): evaluated "as it is", the run would record
    a random head as the checkpoint's own."""
    mismatched = list(loading.get("mismatched_keys") or [])
    if mismatched:
        key, *shapes = mismatched[0] if isinstance(mismatched[0], tuple) else (mismatched[0],)
        found = ""
        if len(shapes) == 2:
            found = f" (its file: {tuple(shapes[0])}, its config.json: {tuple(shapes[1])})"
        raise UserError(f"checkpoint={checkpoint}: {len(mismatched)} weights have another shape than its "
                        f"config.json says, e.g. {key}{found}: the weights and the config belong to "
                        "different models (a head for another number of labels?). Save the fine-tuned "
                        "model again with save_pretrained, config and weights together.")
    fresh = sorted(loading.get("missing_keys") or [])
    if fresh:
        raise UserError(f"checkpoint={checkpoint}: {len(fresh)} of the weights its config names are not in "
                        f"its files (e.g. {fresh[0]}) and would be initialized at random; model=finetuned "
                        "evaluates a fine-tuned classifier as it is: give the complete checkpoint, or "
                        "fine-tune its backbone with model=bert backbone=...")


class CheckpointClassifier(nn.Module):
    """``AutoModelFor{Sequence,Token}Classification.from_pretrained(checkpoint)``, evaluated only."""

    needs_labels = True      # build_encoder passes label_names (the data's) and task (the task's name)
    evaluates_only = True    # the recipe tests it without training

    def __init__(self, checkpoint: str, vocab_size: int, pad_token_id: int, label_names: list[str],
                 task: str, label_map: dict | None = None, pooling: str = "cls",
                 max_length: int | None = None):
        super().__init__()
        from transformers import (
            AutoConfig,
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
        )

        self.checkpoint = check_pretrained(checkpoint, key="checkpoint")
        self.pooling = check_pooling(pooling)
        try:
            config = AutoConfig.from_pretrained(self.checkpoint)
            self.kind = head_kind(config, checkpoint)
            if self.kind != task:
                raise UserError(f"checkpoint={checkpoint} has a {self.kind} head, but the data's task is "
                                f"{task}; choose a data= of its task")
            if config.model_type not in FAMILIES:
                raise UserError(f"checkpoint={checkpoint}: a {config.model_type} classifier; model=finetuned "
                                f"reads the heads of {', '.join(FAMILIES)} models")
            loader = (AutoModelForSequenceClassification if self.kind == "sequence_classification"
                      else AutoModelForTokenClassification)
            # mismatched shapes come back in the loading info (refused below), not as transformers' error
            self.model, loading = loader.from_pretrained(self.checkpoint, output_loading_info=True,
                                                         ignore_mismatched_sizes=True)
        except (OSError, ValueError, SafetensorError) as error:
            raise load_error(checkpoint, error, key="checkpoint") from None
        check_nothing_fresh(loading, checkpoint)
        check_finite_weights(self.model, checkpoint, key="checkpoint")
        self.model.eval()
        self.family = config.model_type
        names = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.head = Reordered(self._own_head(), label_order(names, list(label_names), label_map, checkpoint))
        self.identity = {"checkpoint": self.checkpoint, "sha256": weights_sha256(self.model),
                         "labels": names, "evaluated": True}
        if vocab_size > self.model.get_input_embeddings().num_embeddings:
            raise UserError(f"checkpoint={checkpoint}: its tokenizer has more tokens ({vocab_size}) than the "
                            "model has embeddings; the tokenizer belongs to another model")
        positions = usable_positions(self.model.base_model)
        if max_length and positions and max_length > positions:
            raise UserError(f"data.max_length={max_length} is more than the {positions} positions of "
                            f"checkpoint={checkpoint}; set data.max_length={positions} or less.")
        self.hidden_size = config.hidden_size if self.family != "distilbert" else config.dim

    def _own_head(self) -> nn.Module:
        model = self.model
        if self.kind == "token_classification" or self.family == "bert":
            return model.classifier
        if self.family == "distilbert":
            return nn.Sequential(model.pre_classifier, nn.ReLU(), model.classifier)
        return RobertaSequenceHead(model.classifier)

    def token_representations(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def sequence_representation(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """What the checkpoint's head reads: BERT's pooled output, else the [CLS] state."""
        output = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask)
        if self.family == "bert":
            return output.pooler_output
        return output.last_hidden_state[:, 0]

    @property
    def layer_count(self) -> int:
        config = self.model.config
        return (config.n_layers if self.family == "distilbert" else config.num_hidden_layers) + 1

    def layer_representations(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              per_token: bool) -> list[torch.Tensor]:
        layers = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                       output_hidden_states=True).hidden_states
        return list(layers) if per_token else [pool(h, attention_mask, self.pooling) for h in layers]
