"""The study design and what it explains: factors read from the records (`read_design`), the matched
comparison and attribution, nested groups, trends against a numeric axis.
"""
