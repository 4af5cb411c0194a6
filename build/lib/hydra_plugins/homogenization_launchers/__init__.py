"""The project's Hydra launchers (Hydra loads plugins only from the ``hydra_plugins`` package)."""
