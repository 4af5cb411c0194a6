"""The training recipe: config in, run directory out."""
