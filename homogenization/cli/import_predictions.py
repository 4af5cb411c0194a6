"""Import predictions of models this framework did not train: ``homog-import`` (``--help``)."""

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from homogenization.conf import HYDRA_CONFIG_PATH
from homogenization.core.errors import UserError
from homogenization.external.predictions import Columns, import_predictions

log = logging.getLogger("import")


@hydra.main(version_base="1.3", config_path=HYDRA_CONFIG_PATH, config_name="import")
def main(cfg: DictConfig) -> None:
    try:
        unknown = set(cfg.columns) - set(Columns.__dataclass_fields__)
        if unknown:
            raise UserError(f"columns.{sorted(unknown)[0]}: not a column this reads "
                            f"({', '.join(Columns.__dataclass_fields__)})")
        columns = Columns(**OmegaConf.to_container(cfg.columns))
        labels = None if cfg.labels is None else [str(v) for v in cfg.labels]
        written = import_predictions(Path(cfg.table), Path(cfg.out), cfg.layout, columns, labels, cfg.name)
        print(f"{len(written)} runs in {cfg.out}; analyse them with: homog-analyze runs={cfg.out}")
    except UserError as error:
        log.error("error: %s", error)
        sys.exit(2)


if __name__ == "__main__":
    main()
