"""How long importing a large predictions table takes, with and without its probability column:
``homog-import`` of M models x N items (CSV, JSON-array probabilities), each in a fresh process
(its peak memory from the kernel), the two interleaved over repeats. Prints one line per mode and
``ratio probabilities/none <CPU time with / without>``.

    python benchmarks/import_scale.py --models 10 --items 100000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_table(path: Path, models: int, items: int, labels: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, labels, items)
    with open(path, "w") as handle:
        handle.write("model,item,gold,prediction,probs\n")
        for m in range(models):
            logits = rng.normal(size=(items, labels)) + 2 * np.eye(labels)[gold]
            probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            pred = probs.argmax(1)
            for i in range(items):
                p = json.dumps([round(float(v), 6) for v in probs[i]])
                handle.write(f'm{m},q{i},l{gold[i]},l{pred[i]},"{p}"\n')


def run_import(table: Path, out: Path, probabilities: bool) -> tuple[float, float]:
    """(CPU seconds, peak memory in MB) of one import in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "homogenization.cli.import_predictions", f"table={table}", f"out={out}"]
    if probabilities:
        command.append("columns.probabilities=probs")
    subprocess.run(command, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        table = Path(work) / "predictions.csv"
        write_table(table, args.models, args.items, args.labels)
        times = {False: [], True: []}
        peaks = {False: 0.0, True: 0.0}
        for repeat in range(args.repeats):
            for probabilities in (False, True):
                cpu, peak = run_import(table, Path(work) / f"out{repeat}{int(probabilities)}", probabilities)
                times[probabilities].append(cpu)
                peaks[probabilities] = max(peaks[probabilities], peak)
        rows = args.models * args.items
        for probabilities in (False, True):
            print(f"{'probabilities' if probabilities else 'none'}: {rows:,} rows, CPU "
                  f"{np.median(times[probabilities]):.1f} s (median of {args.repeats}), "
                  f"peak {peaks[probabilities]:.0f} MB (the largest child so far)")
        print(f"ratio probabilities/none {np.median(times[True]) / np.median(times[False]):.2f}")


if __name__ == "__main__":
    main()
