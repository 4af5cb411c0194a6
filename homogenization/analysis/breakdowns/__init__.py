"""Agreement broken down: by test unit, by layer, over training epochs, and systemic failure.
"""
