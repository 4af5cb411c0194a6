"""Tiny checkpoints of each Hugging Face encoder family, built offline: random weights from the
family's config class, and a tokenizer of the family's kind trained with `tokenizers` on the
generated demo sentences (WordPiece for BERT, DistilBERT and ELECTRA; byte-level BPE for RoBERTa;
SentencePiece-style Unigram with the metaspace marker for DeBERTa-v2/v3 and XLM-RoBERTa), saved
with ``save_pretrained`` as a real checkpoint would be."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoModel,
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    PreTrainedTokenizerFast,
    RobertaConfig,
    XLMRobertaConfig,
)

from datamodules.demo_data import generate

BERT_SPECIALS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                 "sep_token": "[SEP]", "mask_token": "[MASK]"}
ROBERTA_SPECIALS = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                    "mask_token": "<mask>", "cls_token": "<s>", "sep_token": "</s>"}
SIZE = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}


def _texts(root: Path) -> list[str]:
    lines = (generate("sentiment", root / "generated") / "train.tsv").read_text().splitlines()[1:]
    sentences = (generate("entities", root / "generated") / "train.conll").read_text().split("\n\n")
    words = [" ".join(line.split(" ")[0] for line in sentence.splitlines()) for sentence in sentences]
    return [line.split("\t")[0] for line in lines] + words


def _specials_in_id_order(specials: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(specials.values()))


def _wordpiece(texts: list[str]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=600, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False))
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    return tokenizer


def _byte_level_bpe(texts: list[str]) -> Tokenizer:
    """As roberta-base's: add_prefix_space false, <pad> = 1."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return tokenizer


def _sentencepiece_unigram(texts: list[str], specials: list[str], bos: str, eos: str) -> Tokenizer:
    """A SentencePiece-style Unigram model ('▁' marks a word start), as DeBERTa-v3 and XLM-R use."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    unknown = "[UNK]" if "[UNK]" in specials else "<unk>"
    tokenizer.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=600, special_tokens=specials, unk_token=unknown, show_progress=False))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, tokenizer.token_to_id(bos)),
                                                  (eos, tokenizer.token_to_id(eos))])
    return tokenizer


def _family(name: str, texts: list[str], positions: int):
    """(tokenizer, its special tokens, the model config) of one family."""
    if name in ("bert", "distilbert", "electra"):
        tokenizer, specials = _wordpiece(texts), BERT_SPECIALS
    elif name == "roberta":
        tokenizer, specials = _byte_level_bpe(texts), ROBERTA_SPECIALS
    elif name == "deberta-v2":
        specials = BERT_SPECIALS
        tokenizer = _sentencepiece_unigram(texts, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"],
                                           "[CLS]", "[SEP]")
    elif name == "xlm-roberta":
        specials = ROBERTA_SPECIALS
        tokenizer = _sentencepiece_unigram(texts, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<s>", "</s>")
    else:
        raise ValueError(name)
    vocab = tokenizer.get_vocab_size()
    pad = tokenizer.token_to_id(specials["pad_token"])
    common = {"vocab_size": vocab, "max_position_embeddings": positions, "pad_token_id": pad}
    config = {
        "bert": lambda: BertConfig(**SIZE, **common),
        "roberta": lambda: RobertaConfig(**SIZE, **common, bos_token_id=0, eos_token_id=2),
        "xlm-roberta": lambda: XLMRobertaConfig(**SIZE, **common, bos_token_id=0, eos_token_id=2),
        "distilbert": lambda: DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64, **common),
        "electra": lambda: ElectraConfig(embedding_size=16, **SIZE, **common),
        # DeBERTa-v3 style: relative positions only, no absolute position table
        "deberta-v2": lambda: DebertaV2Config(**SIZE, **common, relative_attention=True,
                                              position_biased_input=False, pos_att_type=["p2c", "c2p"],
                                              max_relative_positions=-1, position_buckets=16),
    }[name]()
    return tokenizer, specials, config


FAMILIES = ("bert", "roberta", "distilbert", "electra", "deberta-v2", "xlm-roberta")


def tiny_backbone(root: Path, family: str, positions: int = 258) -> Path:
    """A checkpoint directory ``root/<family>`` of ``family`` with a ``positions``-row table."""
    tokenizer, specials, config = _family(family, _texts(root), positions)
    directory = root / family
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials).save_pretrained(directory)
    AutoModel.from_config(config).save_pretrained(directory)
    return directory


def tiny_classifier(root: Path, family: str, kind: str, labels: list[str], name: str | None = None,
                    positions: int = 258) -> Path:
    """A fine-tuned-looking classifier ``root/<name>``: ``family``'s tiny model with a random
    ``kind`` head (``sequence`` or ``token``) whose ``id2label`` are ``labels``."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    tokenizer, specials, config = _family(family, _texts(root), positions)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    loader = AutoModelForSequenceClassification if kind == "sequence" else AutoModelForTokenClassification
    directory = root / (name or f"{family}-{kind}")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials).save_pretrained(directory)
    loader.from_config(config).save_pretrained(directory)
    return directory
