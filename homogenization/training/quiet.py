"""Third-party messages that a user cannot act on, silenced deliberately and only here.

Everything else a library says is kept: a warning is worth reading unless we know it is not.
"""

from __future__ import annotations

import logging
import warnings

# (logger, text): log records from ``logger`` containing ``text``.
UNACTIONABLE_LOGS = (
    ("pytorch_lightning.utilities.rank_zero", "litlogger"),   # an advertisement for a cloud service
)
# Python warnings whose message matches (a regex).
UNACTIONABLE_WARNINGS = (
    # On a SLURM machine when a job is not started by srun: our launcher starts jobs with sbatch
    # and srun itself when it needs several tasks (conf/hydra/launcher/slurm.yaml).
    r".*The `srun` command is available on your system but is not used.*",
    # Lightning 2.6's own pytree helper on torch >= 2.10; nothing a user's code or config causes.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
    # train.yaml adds ./conf (a user's own configs) to Hydra's search path; most folders have none.
    r"provider=hydra.searchpath in main, path=conf is not available.*",
    # A resume mid-epoch: our loaders resume by their own seeded per-epoch order, skipping the
    # batches already done (datamodules/sampling.py), tested bitwise against an uninterrupted run.
    r".*your dataloader is not resumable.*",
)


class _DropContaining(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def silence_unactionable() -> None:
    for name, text in UNACTIONABLE_LOGS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropContaining) and f.text == text for f in logger.filters):
            logger.addFilter(_DropContaining(text))
    for pattern in UNACTIONABLE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
