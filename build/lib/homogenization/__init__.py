"""homogenization: train many models on one task and measure how alike they become.

Subpackages: ``core`` (what training and analysis share: errors, the run record, fingerprints),
``training`` (the recipe: config in, run directory out), ``analysis`` (run directories in, a report
out), ``conf`` (the Hydra configs, shipped as package data), ``cli`` (the console commands).
"""
