"""The console commands (``homog-train``, ``homog-analyze``; ``python -m homogenization.cli.train``
and ``python -m homogenization.cli.analyze``). ``scripts/*.py`` are thin wrappers around them."""
