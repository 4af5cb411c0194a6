"""What the training side and the analysis share: the user-error type, the run record, fingerprints.

This package imports nothing from the rest of the project; every other package may import it.
"""
