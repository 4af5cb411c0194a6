"""Import predictions of models this framework did not train: ``homog-import`` (``--help``)."""

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from homogenization.cli.override_keys import check_overrides
from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.entry_point import one_line_errors
from homogenization.core.errors import UserError
from homogenization.core.signals import StopSignals
from homogenization.external.predictions import Columns, TestSplit, import_predictions

log = logging.getLogger("import")


def test_split(data: str, overrides: list[str]) -> TestSplit:
    """The test split of ``data=<name>`` as a trained run reads it (texts, label names, gold)."""
    from hydra import compose
    from hydra.errors import HydraException
    from hydra.utils import instantiate

    from homogenization.training import resolvers  # noqa: F401  (the configs' ${cwd:}, ${seed_for:...})

    try:
        train_cfg = compose("train", overrides=[f"data={data}", *overrides])
    except HydraException as error:
        raise UserError(f"data={data}: {str(error).splitlines()[0]}") from None
    if train_cfg.task.name != "sequence_classification":
        raise UserError(f"data={data}: a {train_cfg.task.name} data set; homog-import reads sequence "
                        "classification predictions")
    datamodule = instantiate(train_cfg.data, tokenizer=None, data_seed=0)
    missing = [str(path) for path in datamodule.files.values() if not Path(path).exists()]
    if missing:
        raise UserError(f"{missing[0]}: data file not found; point paths.data_dir (HOMOG_DATA_DIR) at the "
                        "folder that holds it, or set its files with test_data_overrides=[...]")
    train, test = datamodule.read_split("train"), datamodule.read_split("test")
    labels = datamodule.resolve_label_names(train)
    return TestSplit(data, labels, list(test.texts), datamodule.encode_labels(test, labels))


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="import")
def run(cfg: DictConfig) -> None:
    with one_line_errors(log, cfg.out, "Free space there, or choose out= on a larger disk, and run the "
                         "import again."):
        unknown = set(cfg.columns) - set(Columns.__dataclass_fields__)
        if unknown:
            raise UserError(f"columns.{sorted(unknown)[0]}: not a column this reads "
                            f"({', '.join(Columns.__dataclass_fields__)})")
        columns = Columns(**OmegaConf.to_container(cfg.columns))
        labels = None if cfg.labels is None else [str(v) for v in cfg.labels]
        test = None if cfg.test_data is None else test_split(cfg.test_data, list(cfg.test_data_overrides))
        with StopSignals("importing predictions", "nothing was written (out= is as it was); run the "
                         "same command again"):
            written = import_predictions(Path(cfg.table), Path(cfg.out), cfg.layout, columns, labels,
                                         cfg.name, test, cfg.abstain, cfg.encoding)
        runs = f"{len(written)} run" + ("" if len(written) == 1 else "s")
        print(f"{runs} in {cfg.out}; analyse them with: homog-analyze runs={cfg.out}")


def main() -> None:
    """The command: a misspelled key is one line before Hydra composes (cli/override_keys.py)."""
    check_overrides("import")
    run()


if __name__ == "__main__":
    main()
