"""Generated demo tasks, so a fresh clone trains and runs a study with no download.

Two tasks, written by a seeded, deterministic generator (the same files on every machine):

- ``sentiment``: movie-review-like sentences labelled negative/positive. The label comes from a
  lexicon of opinion words, flipped by negation ("not", "never", "hardly"), decided by the clause
  after "but", and only weakly by intensifiers. Some opinion words are rare in training (seen once
  or twice) and common in test; some sentences mix equal evidence for both labels (ambiguous, their
  label a coin flip); 3% of labels are flipped in every split (noise no model can learn).
- ``entities``: news-like sentences with PER, LOC, ORG and MISC entities in IOB2, from templates
  whose context words give the type away ("said", "in", "shares of"). Some names are ambiguous
  ("Jordan", "Washington": a person or a place by context); test sentences also hold names never
  seen in training (to be tagged from capitalization and context); 1% of training entities carry
  a wrong type.

So a study on them shows what the report is for: units every model fails (noise, rare words),
architectures that differ (the "but" rule needs the end of the sentence, negation needs order).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from datamodules.text_classification import TextClassificationDataModule
from datamodules.token_classification import TokenClassificationDataModule
from homogenization.core.run_record import staging_dir

VERSION = 1   # bump when the generator changes: files are regenerated in a new directory
SPLITS = {"train": 2400, "dev": 400, "test": 600}
NER_SPLITS = {"train": 1500, "dev": 300, "test": 500}

POSITIVE = ["good", "great", "fine", "lovely", "charming", "clever", "funny", "moving", "brilliant",
            "warm", "smart", "gripping", "beautiful", "delightful", "solid", "fresh"]
NEGATIVE = ["bad", "dull", "awful", "boring", "weak", "tedious", "clumsy", "bland", "messy",
            "poor", "silly", "flat", "tired", "lifeless", "shallow", "forgettable"]
RARE_POSITIVE = ["luminous", "exquisite", "sublime", "riveting", "radiant", "masterful"]
RARE_NEGATIVE = ["insufferable", "leaden", "turgid", "execrable", "vapid", "interminable"]
NOUNS = ["film", "movie", "plot", "script", "cast", "story", "ending", "score", "director",
         "performance", "dialogue", "pacing", "soundtrack", "lead", "sequel", "premise"]
INTENSIFIERS = ["very", "really", "quite", "so", "remarkably", "rather"]
NEGATORS = ["not", "never", "hardly"]
OPENERS = ["honestly ,", "in the end ,", "overall ,", "to be fair ,", "", "", "", ""]

FIRST = ["John", "Mary", "Ahmed", "Olga", "Carlos", "Mei", "Peter", "Fatima", "Lars", "Aiko",
         "David", "Elena", "Kofi", "Sara", "Ivan", "Nina"]
LAST = ["Smith", "Garcia", "Khan", "Petrova", "Silva", "Chen", "Muller", "Haddad", "Berg",
        "Tanaka", "Cohen", "Rossi", "Mensah", "Lind", "Novak", "Costa"]
PLACES = ["Paris", "Berlin", "Madrid", "Tokyo", "Cairo", "Lima", "Oslo", "Nairobi", "Dublin",
          "Toronto", "Lisbon", "Warsaw", "Hanoi", "Quito"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Vandelay", "Hooli", "Soylent", "Stark",
             "Wonka", "Cyberdyne"]
SUFFIXES = ["Corp", "Group", "Bank", "Airlines", "Motors", ""]
MISC = ["French", "German", "Japanese", "Brazilian", "Olympic", "Nobel", "Kenyan", "Irish"]
AMBIGUOUS = ["Jordan", "Washington", "Georgia", "Chelsea", "Florence", "Sydney"]   # PER or LOC
SYLLABLES = ["ka", "lo", "mi", "ra", "ten", "vo", "zu", "bel", "dor", "fin", "gar", "hul", "ix",
             "jan", "kor", "lum", "nes", "pra", "quo", "sil"]


def _choice(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


# -- sentiment -----------------------------------------------------------------------------------

def _opinion(rng: np.random.Generator, split: str) -> tuple[str, int]:
    """An opinion word and its polarity (+1/-1); rare words are rarer in training."""
    rare_share = 0.004 if split == "train" else 0.12
    positive = rng.random() < 0.5
    if rng.random() < rare_share:
        return _choice(rng, RARE_POSITIVE if positive else RARE_NEGATIVE), 1 if positive else -1
    return _choice(rng, POSITIVE if positive else NEGATIVE), 1 if positive else -1


def _clause(rng: np.random.Generator, split: str) -> tuple[str, int]:
    """'the plot is (not) (very) dull' and its polarity after negation."""
    word, polarity = _opinion(rng, split)
    parts = ["the", _choice(rng, NOUNS), _choice(rng, ["is", "was", "feels", "seems"])]
    if rng.random() < 0.3:
        parts.append(_choice(rng, NEGATORS))
        polarity = -polarity
    if rng.random() < 0.3:
        parts.append(_choice(rng, INTENSIFIERS))
    return " ".join([*parts, word]), polarity


def sentiment_example(rng: np.random.Generator, split: str) -> tuple[str, str]:
    kind = rng.random()
    if kind < 0.45:                                  # one clause
        text, polarity = _clause(rng, split)
    elif kind < 0.75:                                # "A but B": B decides
        first, _ = _clause(rng, split)
        second, polarity = _clause(rng, split)
        text = f"{first} but {second}"
    elif kind < 0.9:                                 # "A and B": agreeing evidence, mostly
        first, polarity = _clause(rng, split)
        for _ in range(3):
            second, other = _clause(rng, split)
            if other == polarity:
                break
        text = f"{first} and {second}"
        if other != polarity:                        # conflicting: the label is a coin flip
            polarity = int(rng.choice([-1, 1]))
    else:                                            # ambiguous: "a dull film with a warm cast"
        a, pa = _opinion(rng, split)
        b, _ = _opinion(rng, split)
        text = f"a {a} {_choice(rng, NOUNS)} with a {b} {_choice(rng, NOUNS)}"
        polarity = pa if rng.random() < 0.5 else -pa   # the evidence does not decide it
    opener = _choice(rng, OPENERS)
    text = f"{opener} {text}".strip()
    if rng.random() < 0.03:                          # label noise
        polarity = -polarity
    return text, "positive" if polarity > 0 else "negative"


def write_sentiment(directory: Path, seed: int) -> None:
    for offset, (split, size) in enumerate(SPLITS.items()):
        rng = np.random.default_rng([seed, offset])
        rows = [sentiment_example(rng, split) for _ in range(size)]
        lines = ["text\tlabel", *(f"{text}\t{label}" for text, label in rows)]
        (directory / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- entities ------------------------------------------------------------------------------------

def _unseen_name(rng: np.random.Generator) -> str:
    """A capitalized name made of syllables: never in the lexicons, so never seen in training."""
    return "".join(_choice(rng, SYLLABLES) for _ in range(int(rng.integers(2, 4)))).capitalize()


def _entity(rng: np.random.Generator, kind: str, split: str) -> list[str]:
    unseen = split != "train" and rng.random() < 0.2
    if kind == "PER":
        if rng.random() < 0.15:
            return [_choice(rng, AMBIGUOUS)]
        return [_choice(rng, FIRST), _unseen_name(rng) if unseen else _choice(rng, LAST)]
    if kind == "LOC":
        if rng.random() < 0.15:
            return [_choice(rng, AMBIGUOUS)]
        return [_unseen_name(rng) if unseen else _choice(rng, PLACES)]
    if kind == "ORG":
        name = _unseen_name(rng) if unseen else _choice(rng, COMPANIES)
        suffix = _choice(rng, SUFFIXES)
        return [name, suffix] if suffix else [name]
    return [_choice(rng, MISC)]


TEMPLATES = [
    "{PER} said on Monday that {ORG} will open an office in {LOC} .",
    "shares of {ORG} fell in {LOC} after {PER} resigned .",
    "{PER} , the {MISC} striker , signed for a club in {LOC} .",
    "talks between {ORG} and {ORG} ended without a deal , {PER} told reporters .",
    "the {MISC} team arrived in {LOC} on Tuesday .",
    "{PER} met {PER} in {LOC} .",
    "a spokesman for {ORG} declined to comment .",
    "prices in {LOC} rose 2 percent in May .",
    "{PER} won the {MISC} prize .",
    "police in {LOC} arrested two men .",
]


def entity_example(rng: np.random.Generator, split: str) -> tuple[list[str], list[str]]:
    tokens, tags = [], []
    for word in _choice(rng, TEMPLATES).split():
        if word.startswith("{") and word.endswith("}"):
            kind = word[1:-1]
            names = _entity(rng, kind, split)
            tag_kind = kind
            if split == "train" and rng.random() < 0.01:    # a wrong type: annotation noise
                tag_kind = _choice(rng, [k for k in ("PER", "LOC", "ORG", "MISC") if k != kind])
            tokens += names
            tags += [f"B-{tag_kind}"] + [f"I-{tag_kind}"] * (len(names) - 1)
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags


def write_entities(directory: Path, seed: int) -> None:
    for offset, (split, size) in enumerate(NER_SPLITS.items()):
        rng = np.random.default_rng([seed, 100 + offset])
        sentences = [entity_example(rng, split) for _ in range(size)]
        blocks = ["\n".join(f"{token} {tag}" for token, tag in zip(*sentence)) for sentence in sentences]
        (directory / f"{split}.conll").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


# -- writing once, atomically ----------------------------------------------------------------------

WRITERS = {"sentiment": write_sentiment, "entities": write_entities}


def generate(kind: str, root: str | Path, seed: int = 0) -> Path:
    """The directory holding the generated ``kind`` task for ``seed``: written on first use,
    atomically (a temporary directory renamed into place), reused after."""
    directory = Path(root) / f"{kind}-v{VERSION}-seed{seed}"
    if directory.is_dir():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(directory.parent, directory.name)
    try:
        WRITERS[kind](staging, seed)
        os.rename(staging, directory)
    except OSError:
        if not directory.is_dir():   # not "another job wrote it first"
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


class DemoSentimentDataModule(TextClassificationDataModule):
    """The generated sentiment task (``data=demo``); ``generated_dir`` holds the files."""

    def __init__(self, *args, generated_dir: str, demo_seed: int = 0, files=None, **kwargs):
        directory = generate("sentiment", generated_dir, demo_seed)
        files = {split: str(directory / f"{split}.tsv") for split in SPLITS}
        super().__init__(*args, files=files, **kwargs)


class DemoEntitiesDataModule(TokenClassificationDataModule):
    """The generated entity task (``data=demo_ner``); ``generated_dir`` holds the files."""

    def __init__(self, *args, generated_dir: str, demo_seed: int = 0, files=None, **kwargs):
        directory = generate("entities", generated_dir, demo_seed)
        files = {split: str(directory / f"{split}.conll") for split in NER_SPLITS}
        super().__init__(*args, files=files, **kwargs)
