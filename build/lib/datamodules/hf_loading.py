"""Loading a Hugging Face ``datasets`` dataset as our train/dev/test: a hub id, a local builder
(csv, json, parquet) with data files, or a ``save_to_disk`` directory; a dev split may be carved
from train with a seeded fraction. Used by ``data=hf``/``data=hf_ner`` and by the hub download of
known datasets (``hub_copy.py``)."""

from __future__ import annotations

from pathlib import Path

from homogenization.core.errors import UserError

OUR_SPLITS = ("train", "dev", "test")


def load_splits(dataset: str, subset: str | None, data_files: dict | None, splits: dict,
                dev_fraction: float | None, dev_seed: int, key: str = "data") -> dict:
    """Our train/dev/test as ``datasets.Dataset``s. ``splits`` maps ours to the dataset's split
    names; a ``dev`` of null is carved from train: ``dev_fraction`` of it, chosen with
    ``train_test_split(test_size=dev_fraction, seed=dev_seed)`` (train keeps the rest). ``key``:
    the config block the arguments come from, for messages."""
    import datasets

    try:
        if Path(dataset).is_dir() and any((Path(dataset) / name).is_file()
                                          for name in ("dataset_dict.json", "dataset_info.json")):
            loaded = datasets.load_from_disk(dataset)
        else:
            files = dict(data_files) if data_files else None
            loaded = datasets.load_dataset(dataset, subset, data_files=files)
    except FileNotFoundError as error:
        raise UserError(f"{key}.dataset={dataset}: {str(error).splitlines()[0]}. Give a hub id (needs a "
                        f"network connection) or a local builder (csv, json, parquet) with {key}.data_files, "
                        "or a directory written by save_to_disk.") from None
    except (ValueError, ConnectionError, OSError) as error:
        raise UserError(f"{key}.dataset={dataset}: could not load it ({str(error).splitlines()[0][:200]}). "
                        f"Check {key}.dataset, {key}.subset and {key}.data_files.") from None
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({"train": loaded})
    chosen = {}
    for ours in OUR_SPLITS:
        theirs = (splits or {}).get(ours)
        if theirs is None:
            continue
        if theirs not in loaded:
            raise UserError(f"{key}.splits.{ours}={theirs}: {key}.dataset={dataset} has the splits "
                            f"{', '.join(loaded)}. Map {ours} to one of them.")
        chosen[ours] = loaded[theirs]
    if "train" not in chosen or "test" not in chosen:
        raise UserError(f"{key}.splits must name the train and test splits of {key}.dataset={dataset} "
                        f"(it has {', '.join(loaded)}).")
    if "dev" not in chosen:
        if not dev_fraction or not 0 < dev_fraction < 1:
            raise UserError(f"{key}.splits.dev is null, so a dev split is carved from train: set "
                            f"{key}.dev_fraction in (0, 1) (it is {dev_fraction}).")
        carved = chosen["train"].train_test_split(test_size=dev_fraction, seed=dev_seed)
        chosen["train"], chosen["dev"] = carved["train"], carved["test"]
    return chosen


class DatasetSource:
    """A dataset's train/dev/test, loaded on first use (``load_splits``)."""

    def __init__(self, dataset: str, subset: str | None = None, data_files: dict | None = None,
                 splits: dict | None = None, dev_fraction: float | None = None, dev_seed: int = 0):
        self.name = dataset
        self.load_args = dict(dataset=dataset, subset=subset, data_files=data_files, splits=splits,
                              dev_fraction=dev_fraction, dev_seed=dev_seed)
        self._loaded: dict | None = None

    def split(self, name: str):
        if self._loaded is None:
            self._loaded = load_splits(**self.load_args)
        return self._loaded[name]

    def pseudo_files(self) -> dict[str, str]:
        """``<dataset>[<split>]`` per split: what messages name instead of a file."""
        return {split: f"{self.name}[{split}]" for split in OUR_SPLITS}
