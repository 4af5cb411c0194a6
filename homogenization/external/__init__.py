"""Models this framework did not train: their predictions, written as run directories the
analysis reads like any trained run."""
