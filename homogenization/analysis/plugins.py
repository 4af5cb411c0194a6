"""``analysis.plugins``: the user's own modules, imported before the analysis runs, so that a metric
they register (``homogenization.analysis.metrics.registry.register``) reaches every table, figure
and the W&B summary without editing the installed package.

A plugin is a module name, found in the working directory first and then on the Python path
(``my_metrics``, ``lab.metrics``), or a ``.py`` file (``plugins/agreement.py``). Importing one
that is missing, or that fails, is one line naming it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from homogenization.core.errors import UserError


def load_plugins(plugins: list[str]) -> None:
    for plugin in plugins:
        try:
            if plugin.endswith(".py"):
                _load_file(Path(plugin).expanduser())
            else:
                cwd = os.getcwd()
                if cwd not in sys.path:
                    sys.path.insert(0, cwd)
                importlib.import_module(plugin)
        except UserError:
            raise
        except ModuleNotFoundError as error:
            if error.name and plugin.startswith(error.name):
                raise UserError(f"analysis.plugins: {plugin}: no such module (looked in {os.getcwd()} and on "
                                "the Python path); give a module name or a .py file") from None
            raise UserError(f"analysis.plugins: {plugin} imports {error.name}, which is not "
                            "installed") from None
        except Exception as error:   # the user's code failed while it was imported
            first = str(error).splitlines()[0] if str(error) else ""
            raise UserError(f"analysis.plugins: {plugin} failed while it was imported: "
                            f"{type(error).__name__}: {first}") from None


def _load_file(path: Path) -> None:
    if not path.is_file():
        raise UserError(f"analysis.plugins: {path}: no such file")
    name = f"homogenization_plugin_{path.stem}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
