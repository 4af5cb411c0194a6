"""DataModule for CoNLL-style tagged sentences (named entities): one label per word."""

from __future__ import annotations

import bisect
import itertools

from torch.utils.data import Dataset

from datamodules.base import LabelledDataModule
from datamodules.batching import PadWordBatch, TokenizedWords
from datamodules.conll import TaggedSentences, read_conll
from homogenization.core.errors import UserError
from homogenization.core.fingerprints import fingerprint

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


def first_subword_starts(encoding, owners: list[int | None]) -> dict[int, int]:
    """Word -> start offset of its first sub-word in ``encoding``."""
    starts: dict[int, int] = {}
    for (start, _), owner in zip(encoding.offsets, owners):
        if owner is not None and owner not in starts:
            starts[owner] = start
    return starts


def windows_of(tokenizer, text: str, words: list[str], firsts: dict[int, int],
               max_length: int, overlap: int) -> tuple[list[list[int]], list[list[int]]]:
    """Split a long sentence into windows of ``max_length`` sub-words (special tokens included)
    that share ``overlap`` sub-words with the next, and give each word to exactly one window: the
    one in which its first sub-word has the most context on both sides. In every other window its
    sub-words get word index -1 (context only: no label, no prediction), so merging the windows'
    predictions gives every word exactly one."""
    tokenizer.enable_truncation(max_length=max_length, stride=overlap)
    try:
        encoding = tokenizer.encode(text)
    finally:
        tokenizer.no_truncation()
    windows = [encoding, *encoding.overflowing]
    best: dict[int, tuple[int, int]] = {}    # word -> (context margin, window)
    owners_of = []
    for number, window in enumerate(windows):
        owners = word_of_each_token(window, words)
        content = [position for position, owner in enumerate(owners) if owner is not None]
        for position, owner in enumerate(owners):
            if owner is None or window.offsets[position][0] != firsts[owner]:
                continue   # not the word's first sub-word (a window may start inside a word)
            margin = min(position - content[0], content[-1] - position)
            if owner not in best or margin > best[owner][0]:
                best[owner] = (margin, number)
        owners_of.append(owners)
    word_ids = [[owner if owner is not None and best[owner][1] == number else -1
                 for owner in owners] for number, owners in enumerate(owners_of)]
    return [window.ids for window in windows], word_ids


def encode_words(tokenizer, sentences: TaggedSentences, max_length: int, windows: bool = False,
                 overlap: int = 0, tokenizer_name: str = "the tokenizer") -> dict[str, list]:
    """Sub-word ids of each sentence and, per sub-word, the index of its word (-1 for special
    tokens); ``sentence``: the sentence of each row. Words are encoded as they are in running text
    (joined by spaces), so a byte-level BPE (RoBERTa, GPT-2) gives a non-initial word its
    leading-space form ("Ġcharming"), the form it saw in pretraining; for WordPiece this is the
    same as encoding the words one by one (checked on all of CoNLL-2003's training sentences).
    Every word gets at least one sub-word of its own: words that normalize to nothing (control
    characters, say) are encoded as the unknown token, and a tokenizer whose sub-words cross word
    boundaries is refused. A sentence longer than ``max_length`` is never truncated: with
    ``windows`` it becomes several overlapping rows (``windows_of``), otherwise it is an error."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    unknown = getattr(tokenizer.model, "unk_token", "[UNK]")
    ids, word_ids, sentence_of_row = [], [], []
    encodings = tokenizer.encode_batch([" ".join(words) for words in sentences.tokens])
    for sentence, (words, encoding, start) in enumerate(zip(sentences.tokens, encodings, sentences.lines)):
        owners = word_of_each_token(encoding, words)
        if len(set(owners) - {None}) < len(words):
            words = [word if tokenizer.encode(word, add_special_tokens=False).ids else unknown
                     for word in words]
            encoding = tokenizer.encode(" ".join(words))
            owners = word_of_each_token(encoding, words)
        if len(set(owners) - {None}) < len(words):
            raise UserError(
                f"{sentences.path}:{start}: {tokenizer_name} makes sub-words that span more than "
                f"one word, so some words get no sub-word of their own and no prediction; a token "
                f"task needs a tokenizer that splits text at spaces (a pre-tokenizer) and reports "
                f"character offsets. Use another backbone for token tasks."
            )
        if len(encoding.ids) <= max_length:
            rows = [encoding.ids], [[-1 if w is None else w for w in owners]]
        elif windows:
            room = max_length - tokenizer.num_special_tokens_to_add(False)
            if not 0 <= overlap <= room // 2:
                raise UserError(
                    f"data.window_overlap={overlap}: windows of data.max_length={max_length} hold "
                    f"{room} sub-words of text; the overlap must be between 0 and half of that "
                    f"({room // 2}).")
            rows = windows_of(tokenizer, " ".join(words), words,
                              first_subword_starts(encoding, owners), max_length, overlap)
        else:
            raise UserError(
                f"{sentences.path}:{start}: this sentence has {len(encoding.ids)} sub-word tokens, "
                f"more than data.max_length={max_length}; raise data.max_length so that every "
                f"word gets a prediction, or set data.windows=true to split long sentences into "
                f"overlapping windows."
            )
        ids.extend(rows[0])
        word_ids.extend(rows[1])
        sentence_of_row.extend([sentence] * len(rows[0]))
    return {"ids": ids, "word_ids": word_ids, "sentence": [[s] for s in sentence_of_row]}


def tag_order(tag: str) -> tuple:
    """O first, then by entity type, B- before I-."""
    return (tag != "O", tag[2:], tag[:1])


class TokenClassificationDataModule(LabelledDataModule):
    """Reads ``files.{train,dev,test}`` as CoNLL column files; the tag set comes from train.

    ``windows``: what becomes of a sentence with more than ``max_length`` sub-words. ``true``:
    overlapping windows (``window_overlap`` sub-words shared by neighbours), every word predicted
    once, in the window where it has the most context; ``false``: an error; ``auto``: windows for
    a pretrained backbone with a position table (raising ``max_length`` cannot go past its
    positions), an error otherwise (raise ``max_length``)."""

    def __init__(self, *args, token_column: int = 0, tag_column: int = -1,
                 separator: str | None = None, windows: bool | str = "auto",
                 window_overlap: int = 64, comment_prefix: str | None = "#", **kwargs):
        super().__init__(*args, **kwargs)
        self.conll_options = dict(token_column=token_column, tag_column=tag_column,
                                  separator=separator, encoding=self.encoding, comment_prefix=comment_prefix)
        if windows not in (True, False, "auto"):
            raise UserError(f"data.windows={windows!r}: choose true, false or auto.")
        self.windows = windows
        self.window_overlap = window_overlap

    def use_windows(self) -> bool:
        if self.windows != "auto":
            return self.windows
        return self.tokenizer_spec.positions() is not None

    def tokenize_settings(self) -> dict:
        windows = self.use_windows()
        return {**super().tokenize_settings(), "windows": windows,
                "window_overlap": self.window_overlap if windows else None}

    def read_split(self, split: str) -> TaggedSentences:
        return read_conll(self.files[split], key=f"data.files.{split}", **self.conll_options)

    def label_values(self, examples: TaggedSentences) -> list[str]:
        return [tag for tags in examples.tags for tag in tags]

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
                        f"training split, so no model can learn it. Fix the tag, or set "
                        f"data.unseen_labels=keep to score it anyway (every run errs on it; run.json "
                        f"counts such tags)."
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
        return encode_words(tokenizer, examples, self.max_length, self.use_windows(),
                            self.window_overlap, tokenizer_name=self.tokenizer_description())

    def make_dataset(self, tokens: dict[str, list], labels: list[list[int]]) -> Dataset:
        return TokenizedWords(tokens["ids"], tokens["word_ids"], labels,
                              [row[0] for row in tokens["sentence"]])

    def data_report(self) -> dict:
        """Also how many sentences of each split were split into windows."""
        report = super().data_report()
        for split, entry in report["splits"].items():
            entry["windowed"] = self.datasets[split].windowed_sentences
        return report

    def texts_of(self, split: str) -> list[list[str]]:
        """The words of each sentence."""
        return [list(words) for words in self.examples[split].tokens]

    def collate(self) -> PadWordBatch:
        return PadWordBatch(self.pad_token_id)

    @property
    def units(self) -> dict[str, int]:
        """Words per split: the rows of a token task's predictions."""
        return {split: examples.num_words for split, examples in self.examples.items()}
