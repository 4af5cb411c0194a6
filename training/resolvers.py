"""OmegaConf resolvers used by conf/ (registered when scripts/train.py or the tests import this).

``${unique:}`` is a short random token, fixed for the process and cached like Hydra's ``${now:}``
(Hydra copies the resolver cache into every job's config), so output directories of sweeps
started in the same second never collide.
"""

from __future__ import annotations

import uuid

from omegaconf import OmegaConf

TOKEN = uuid.uuid4().hex[:6]


def register() -> None:
    if not OmegaConf.has_resolver("unique"):
        OmegaConf.register_new_resolver("unique", lambda: TOKEN, use_cache=True)


register()
