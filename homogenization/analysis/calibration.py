"""What the simulations with a known truth found about the analysis's intervals, for the report.

``calibration.csv`` beside this file is written by the benchmarks (``benchmarks/attribution_coverage.py
--write``): one row per interval, design size and regime (a null factor, an effect equal at every
level, a level-dependent one) with the coverage of the 95% interval and its mean width against the
spread of the estimates. The report quotes it (``calibration_text``) instead of numbers typed into
its prose, so the text changes when the benchmark is run again, and names the regimes where an
interval errs (coverage outside ``CALIBRATED``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CALIBRATION_FILE = Path(__file__).with_name("calibration.csv")
CALIBRATED = (0.93, 0.97)


def _read() -> pd.DataFrame:
    """The whole table, its text read as text (pandas would read a regime named "null" as NaN)."""
    return pd.read_csv(CALIBRATION_FILE, keep_default_na=False, na_values={"spread": [""]})


def replace_rows(rows: pd.DataFrame, keys: list[str]) -> None:
    """Write ``rows`` (one benchmark run) into the table, replacing the rows that have the same
    values of ``keys`` (e.g. interval, levels, spread): the benchmarks' one writer."""
    table = _read() if CALIBRATION_FILE.exists() else rows.iloc[:0]
    first = rows.iloc[0]
    same = np.logical_and.reduce([(table[key] == first[key]).to_numpy() for key in keys])
    pd.concat([table[~same], rows]).to_csv(CALIBRATION_FILE, index=False, float_format="%.4f")


def calibration_table(interval: str) -> pd.DataFrame:
    """The rows of one interval (``attribution``, ``trend``); empty when never measured."""
    if not CALIBRATION_FILE.exists():
        return pd.DataFrame()
    table = _read()
    return table[table.interval == interval].sort_values(["levels", "spread", "factor"])


def calibration_text(interval: str, benchmark: str) -> str:
    """One paragraph: the coverage range over the simulated regimes, the studies it rests on, and
    each regime whose coverage falls outside ``CALIBRATED`` (too narrow or too wide)."""
    table = calibration_table(interval)
    if table.empty:
        return f"Its coverage has not been simulated in this installation (`{benchmark}`)."
    low, high = CALIBRATED
    text = (f"In simulated studies with a known truth (`{benchmark}`; {len(table)} settings, "
            f"{int(table.studies.min())}–{int(table.studies.max())} studies each, "
            f"{', '.join(str(v) for v in sorted(table.levels.unique()))} levels) the 95% interval covered "
            f"{table.coverage.min():.3f}–{table.coverage.max():.3f} of the time, its median width "
            f"{table.median_width_vs_spread.min():.1f}–{table.median_width_vs_spread.max():.1f}× the "
            "estimates' spread (3.92 standard deviations)")
    off = table[(table.coverage < low) | (table.coverage > high)]
    if off.empty:
        return text + f": within {low}–{high} in every regime."
    errs = "; ".join(f"{r.regime} at {r.levels} levels: {r.coverage:.3f} "
                     f"({'too narrow' if r.coverage < low else 'conservative'})" for r in off.itertuples())
    return text + f". Outside {low}–{high}: {errs}."
