"""Run records (the contract between training and analysis) and the cross-run analysis.

Nothing in this package imports training code: a report can be made from run directories alone.
"""
