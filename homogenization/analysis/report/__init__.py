"""The report: markdown tables and text, its trend section, figures, and the W&B summary.
"""
