"""DataModule for CoNLL-style tagged sentences (named entities): one label per word."""

from __future__ import annotations

import bisect
import itertools

from torch.utils.data import Dataset

from core.errors import UserError
from core.fingerprints import fingerprint
from datamodules.base import LabelledDataModule
from datamodules.batching import PadWordBatch, TokenizedWords
from datamodules.conll import TaggedSentences, read_conll

WORD_SEPARATOR = "\x1f"  # joins words and tags in fingerprints; never inside a CoNLL token


def word_of_each_token(encoding, words: list[str]) -> list[int | None]:
    """The word (index) each sub-word of ``" ".join(words)`` belongs to: the word holding the
    sub-word's last character (a byte-level BPE token's offsets may include the space before it);
    None for special tokens."""
    starts = list(itertools.accumulate((len(word) + 1 for word in words[:-1]), initial=0))
    owners = []
    for (start, end), special in zip(encoding.offsets, encoding.special_tokens_mask):
        index = bisect.bisect_right(starts, end - 1) - 1 if end > start and not special else -1
        inside = index >= 0 and end - 1 < starts[index] + len(words[index])
        owners.append(index if inside else None)
    return owners


def encode_words(tokenizer, sentences: TaggedSentences, max_length: int) -> dict[str, list]:
    """Sub-word ids of each sentence and, per sub-word, the index of its word (-1 for special
    tokens). Words are encoded as they are in running text (joined by spaces), so a byte-level BPE
    (RoBERTa, GPT-2) gives a non-initial word its leading-space form ("Ġcharming"), the form it
    saw in pretraining; for WordPiece this is the same as encoding the words one by one (checked
    on all of CoNLL-2003's training sentences). Every word gets at least one sub-word: words that
    normalize to nothing (control characters, say) are encoded as the unknown token. A sentence
    longer than ``max_length`` is an error, never truncated."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    unknown = getattr(tokenizer.model, "unk_token", "[UNK]")
    ids, word_ids = [], []
    encodings = tokenizer.encode_batch([" ".join(words) for words in sentences.tokens])
    for words, encoding, start in zip(sentences.tokens, encodings, sentences.lines):
        owners = word_of_each_token(encoding, words)
        if len(set(owners) - {None}) < len(words):
            words = [word if tokenizer.encode(word, add_special_tokens=False).ids else unknown
                     for word in words]
            encoding = tokenizer.encode(" ".join(words))
            owners = word_of_each_token(encoding, words)
        if len(encoding.ids) > max_length:
            raise UserError(
                f"{sentences.path}:{start}: this sentence has {len(encoding.ids)} sub-word tokens, "
                f"more than data.max_length={max_length}; raise data.max_length so that every "
                f"word gets a prediction."
            )
        ids.append(encoding.ids)
        word_ids.append([-1 if w is None else w for w in owners])
    return {"ids": ids, "word_ids": word_ids}


def tag_order(tag: str) -> tuple:
    """O first, then by entity type, B- before I-."""
    return (tag != "O", tag[2:], tag[:1])


class TokenClassificationDataModule(LabelledDataModule):
    """Reads ``files.{train,dev,test}`` as CoNLL column files; the tag set comes from train."""


    def __init__(self, *args, token_column: int = 0, tag_column: int = -1,
                 separator: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.conll_options = dict(token_column=token_column, tag_column=tag_column,
                                  separator=separator, encoding=self.encoding)

    def read_split(self, split: str) -> TaggedSentences:
        return read_conll(self.files[split], key=f"data.files.{split}", **self.conll_options)

    def resolve_label_names(self, train: TaggedSentences) -> list[str]:
        if self.configured_label_names:
            return self.configured_label_names
        return sorted({tag for tags in train.tags for tag in tags}, key=tag_order)

    def encode_labels(self, examples: TaggedSentences, names: list[str]) -> list[list[int]]:
        index = {name: i for i, name in enumerate(names)}
        encoded = []
        for tags, start in zip(examples.tags, examples.lines):
            for offset, tag in enumerate(tags):
                if tag not in index:
                    raise UserError(
                        f"{examples.path}:{start + offset}: tag '{tag}' never occurs in the "
                        f"training split, so no model can learn it. Fix the tag, or list every "
                        f"tag in data.label_names."
                    )
            encoded.append([index[tag] for tag in tags])
        return encoded

    def fingerprint(self, examples: TaggedSentences, labels: list[list[int]]) -> str:
        return fingerprint(
            (WORD_SEPARATOR.join(tokens), WORD_SEPARATOR.join(self.label_names[i] for i in ids))
            for tokens, ids in zip(examples.tokens, labels)
        )

    def training_texts(self, train: TaggedSentences) -> list[str]:
        return [" ".join(tokens) for tokens in train.tokens]

    def tokenize(self, tokenizer, examples: TaggedSentences) -> dict[str, list]:
        return encode_words(tokenizer, examples, self.max_length)

    def make_dataset(self, tokens: dict[str, list], labels: list[list[int]]) -> Dataset:
        return TokenizedWords(tokens["ids"], tokens["word_ids"], labels)

    def collate(self) -> PadWordBatch:
        return PadWordBatch(self.pad_token_id)

    @property
    def units(self) -> dict[str, int]:
        """Words per split: the rows of a token task's predictions."""
        return {split: examples.num_words for split, examples in self.examples.items()}
