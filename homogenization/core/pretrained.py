"""Check a pretrained checkpoint reference (hub name or local directory) before loading it."""

from __future__ import annotations

from pathlib import Path

from homogenization.core.errors import UserError

# What a directory needs for its tokenizer to be the one the weights were trained with: a fast
# tokenizer file, or the vocabulary files of a WordPiece, BPE or SentencePiece tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "spm.model",
                   "sentencepiece.bpe.model", "tokenizer.model")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def looks_like_path(name_or_path: str) -> bool:
    return name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists()


def check_pretrained(name_or_path: str, key: str = "model.pretrained") -> str:
    """Return ``name_or_path`` unchanged if it can be a checkpoint, else raise a UserError.

    A local directory must hold a ``config.json`` and weights; a hub name (``org/model``) is passed
    on to ``from_pretrained``, which needs a network connection or a filled HF cache.
    """
    if not name_or_path:
        raise UserError(f"{key} is empty. Set it to a Hugging Face model name or a local directory.")
    if not looks_like_path(name_or_path):
        return name_or_path
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise UserError(
            f"{key}={name_or_path}: no such directory. Give a local checkpoint directory "
            f"(made with save_pretrained, e.g. by experiment=pretrain_bert) or a hub model name "
            f"(hub names need a network connection or a filled Hugging Face cache)."
        )
    if not path.is_dir() or not (path / "config.json").is_file() or not any(
        (path / name).is_file() for name in WEIGHT_FILES
    ):
        raise UserError(
            f"{key}={name_or_path}: holds no Hugging Face checkpoint (needs config.json and "
            f"model.safetensors or pytorch_model.bin). Point it at a directory written by "
            f"save_pretrained."
        )
    return str(path)


def check_tokenizer_files(name_or_path: str, key: str = "model.pretrained") -> None:
    """Refuse a local checkpoint directory without its tokenizer: ``AutoTokenizer`` would otherwise
    build one with a handful of tokens, every word would become [UNK] and the run would still end."""
    if not looks_like_path(name_or_path):
        return
    path = Path(name_or_path).expanduser()
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"{key}={name_or_path}: holds weights but no tokenizer (none of "
                        f"{', '.join(TOKENIZER_FILES)}). Save the tokenizer the weights were trained "
                        "with beside them (tokenizer.save_pretrained(directory)).")


def load_error(name_or_path: str, error: Exception, key: str = "model.pretrained") -> UserError:
    """Turn a from_pretrained failure (no network, unknown name) into one clear line."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if looks_like_path(name_or_path):
        return UserError(
            f"{key}={name_or_path}: the checkpoint in this directory is malformed ({first_line}). "
            f"Write it again with save_pretrained."
        )
    return UserError(
        f"{key}={name_or_path}: could not load it ({first_line}). On a machine without internet, "
        f"give a local directory made with save_pretrained, or set HF_HUB_OFFLINE=1 with a filled "
        f"Hugging Face cache."
    )


def check_finite_weights(model, name_or_path: str, key: str = "model.pretrained") -> None:
    """Refuse weights that hold NaN or infinity (a damaged or half-written file): trained or
    evaluated, they would only show up later as "the model diverged"."""
    import torch

    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise UserError(f"{key}={name_or_path}: its weights hold {bad} non-finite values (NaN or inf) in "
                            f"{name}: the file is damaged. Download or save the checkpoint again.")


def usable_positions(model) -> int | None:
    """How many tokens a Hugging Face encoder can take: the size of its position-embedding table,
    less the positions its padding index reserves (RoBERTa-style tables number real tokens from
    ``padding_idx + 1``, so 514 rows hold 512 tokens). None: no absolute position table (e.g.
    DeBERTa-v2/v3 with relative positions only), so no limit from positions."""
    from torch import nn

    table = getattr(getattr(model, "embeddings", None), "position_embeddings", None)
    if not isinstance(table, nn.Embedding):
        return None
    reserved = table.padding_idx + 1 if table.padding_idx is not None else 0
    return table.num_embeddings - reserved


def checkpoint_positions(name_or_path: str, key: str = "model.pretrained") -> int | None:
    """``usable_positions`` of a checkpoint without loading its weights: the architecture is built
    from its config on the meta device (no memory, a fraction of a second), so the one rule above
    answers for every family."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise load_error(name_or_path, error, key) from None
    with torch.device("meta"):
        return usable_positions(AutoModel.from_config(config))
