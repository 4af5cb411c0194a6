"""Tokenizers, built with HF ``tokenizers``.

Two kinds, both yielding a ``tokenizers.Tokenizer`` that adds [CLS] ... [SEP]:
- ``WordPieceFromData``: a WordPiece vocabulary trained on the training split (for models trained
  from scratch: cnn_lstm, transformer);
- ``PretrainedTokenizer``: the tokenizer saved with a Hugging Face checkpoint (for bert).

Each reports ``settings()``: everything that changes its output, used as part of the cache key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from homogenization.core.errors import UserError
from homogenization.core.pretrained import (
    check_pretrained,
    check_tokenizer_files,
    checkpoint_positions,
    load_error,
)

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]


class WordPieceFromData:
    """Train a BERT-style WordPiece vocabulary on the training texts."""

    pad_token = PAD

    def __init__(self, vocab_size: int = 16000, lowercase: bool = True, min_frequency: int = 2):
        if vocab_size < len(SPECIAL_TOKENS) + 1:
            raise UserError(f"model.tokenizer.vocab_size={vocab_size} is too small; use >= 100.")
        self.vocab_size = vocab_size
        self.lowercase = lowercase
        self.min_frequency = min_frequency

    def positions(self) -> int | None:
        """No backbone: the model trained from scratch takes data.max_length positions."""
        return None

    def settings(self) -> dict:
        return {"kind": "wordpiece", "vocab_size": self.vocab_size, "lowercase": self.lowercase,
                "min_frequency": self.min_frequency}

    def build(self, train_texts: Sequence[str]) -> Tokenizer:
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=self.lowercase)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=self.vocab_size, min_frequency=self.min_frequency,
            special_tokens=SPECIAL_TOKENS, show_progress=False,
        )
        tokenizer.train_from_iterator(train_texts, trainer=trainer, length=len(train_texts))
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
            special_tokens=[(CLS, tokenizer.token_to_id(CLS)), (SEP, tokenizer.token_to_id(SEP))],
        )
        return tokenizer


class SavedTokenizer:
    """The tokenizer a run saved (``<run dir>/tokenizer.json``), for resuming it: a vocabulary
    trained again would not be the same one (``tokenizers`` training is not reproducible across
    processes), and the checkpoint's embeddings belong to this one. Everything else (padding
    token, positions) is the spec's the run started with, ``saved_from``."""

    def __init__(self, path: str | Path, saved_from):
        self.path = Path(path)
        self.saved_from = saved_from
        self.pad_token = saved_from.pad_token

    def positions(self) -> int | None:
        return self.saved_from.positions()

    def settings(self) -> dict:
        return {**self.saved_from.settings(),
                "saved": hashlib.sha256(self.path.read_bytes()).hexdigest()}

    def build(self, train_texts: Sequence[str]) -> Tokenizer:
        return Tokenizer.from_file(str(self.path))


class PretrainedTokenizer:
    """The fast tokenizer stored with a Hugging Face checkpoint (hub name or local directory)."""

    def __init__(self, name_or_path: str, key: str = "model.pretrained"):
        """``key``: the setting the user gave the checkpoint with, named in every message."""
        self.key = key
        self.name_or_path = check_pretrained(name_or_path, key)
        check_tokenizer_files(self.name_or_path, key)
        self._tokenizer: Tokenizer | None = None

    def _load(self) -> Tokenizer:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            try:
                loaded = AutoTokenizer.from_pretrained(self.name_or_path)
            except (OSError, ValueError) as error:
                raise load_error(self.name_or_path, error, self.key) from None
            if not getattr(loaded, "is_fast", False):
                raise UserError(
                    f"{self.key}={self.name_or_path}: its tokenizer has no fast "
                    f"(tokenizer.json) version; save it with a fast tokenizer."
                )
            self._tokenizer = loaded.backend_tokenizer
            self._pad_token = loaded.pad_token or PAD
        return self._tokenizer

    @property
    def pad_token(self) -> str:
        """The checkpoint's own padding token (``[PAD]``, ``<pad>``, ...)."""
        self._load()
        return self._pad_token

    def positions(self) -> int | None:
        """How many tokens the checkpoint's encoder takes (None: no limit from positions)."""
        if not hasattr(self, "_positions"):
            self._positions = checkpoint_positions(self.name_or_path, self.key)
        return self._positions

    def settings(self) -> dict:
        content = self._load().to_str().encode("utf-8")
        return {"kind": "pretrained", "name_or_path": self.name_or_path,
                "sha256": hashlib.sha256(content).hexdigest()}

    def build(self, train_texts: Sequence[str]) -> Tokenizer:
        return Tokenizer.from_str(self._load().to_str())


def encode(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids per text, with special tokens, truncated to ``max_length``, not padded; and
    whether each text was truncated."""
    specials = tokenizer.num_special_tokens_to_add(False)
    if max_length <= specials:
        raise UserError(f"data.max_length={max_length} leaves no room for text: the tokenizer adds "
                        f"{specials} special tokens. Use at least {specials + 1} (128 is usual).")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    encodings = tokenizer.encode_batch(list(texts))
    return [encoding.ids for encoding in encodings], [bool(encoding.overflowing) for encoding in encodings]


def vocabulary(tokenizer: Tokenizer) -> list[str]:
    """The sub-word string of every id, in id order."""
    by_id = {index: token for token, index in tokenizer.get_vocab(with_added_tokens=True).items()}
    return [by_id.get(index, UNK) for index in range(tokenizer.get_vocab_size())]
