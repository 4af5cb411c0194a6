"""The cross-run analysis: run directories in, a homogenization report out.

Nothing in this package imports training code: a report can be made from run directories alone.
"""
