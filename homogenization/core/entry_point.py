"""Every command's net for what a user can fix, in one place.

Inside ``one_line_errors``: a ``UserError`` is its one line (``error: ...``) on the command's log
and exit status 2; a stop signal (``Stopped``) is ``interrupted: ...`` and 128 + the signal; a full
disk under ``disk_where`` is one line naming the folder and ``disk_fix``, and a folder that may not be
written one line naming it and where to write instead, exit 2. Anything else is
a bug and keeps its traceback. ``homog-train`` adds its failed records around the same rules
(``cli/train.py``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homogenization.core.disk_space import exit_if_disk_full
from homogenization.core.errors import UserError
from homogenization.core.signals import Stopped


@contextmanager
def one_line_errors(log: logging.Logger, disk_where: Path | str | None = None, disk_fix: str = "",
                    after: str = "") -> Iterator[None]:
    """``after``: said after a user error's line (e.g. that no job was started)."""
    try:
        yield
    except Stopped as stopped:
        log.error("interrupted: %s", stopped)
        sys.exit(stopped.exit_status)
    except UserError as error:
        log.error("error: %s%s", error, after)
        sys.exit(2)
    except (OSError, RuntimeError) as error:
        exit_if_disk_full(error, disk_where, disk_fix, log)
        raise
