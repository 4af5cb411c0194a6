"""What the analysis reads: run directories found and checked (`discovery`), their test outcomes
(`outcomes`), and synthetic run directories with a known truth for tests and benchmarks
(`synthetic_runs`).
"""
