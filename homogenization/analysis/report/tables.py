"""How the report writes numbers and tables: three decimals, n/a for an undefined value, an
interval in brackets, a pandas frame as a markdown table (no tabulate dependency)."""

from __future__ import annotations

import pandas as pd


def fmt(value: float, signed: bool = False) -> str:
    return "n/a" if value != value else (f"{value:+.3f}" if signed else f"{value:.3f}")


def interval_text(values: list[float]) -> str:
    return f"[{fmt(values[0])}, {fmt(values[1])}]"


def with_interval(value: float, low: float, high: float, signed: bool = False) -> str:
    return f"{fmt(value, signed)} [{fmt(low, signed)}, {fmt(high, signed)}]"


def markdown_table(frame: pd.DataFrame) -> str:
    cells = [[fmt(v) if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(False)]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
