"""Time the zero-setup demo study as a new user runs it: `python scripts/train.py -m
experiment=demo` with no data directory (generated data, cold caches), 2 architectures x 3 seeds
and the report. Prints the wall time and the report's headline.

    python benchmarks/demo.py [--out /tmp/demo_study]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="sweep directory (default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="demo_study."))
    sweep = args.out or work / "sweep"
    env = {**os.environ, "HOMOG_DATA_DIR": str(work / "no_data")}   # like a fresh clone
    command = [sys.executable, "scripts/train.py", "-m", "experiment=demo", f"hydra.sweep.dir={sweep}",
               f"paths.cache_dir={work / 'cache'}", f"paths.generated_dir={work / 'generated'}",
               "trainer.enable_progress_bar=false", "callbacks.progress_bar=null"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"the demo study failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    summary = json.loads((sweep / "report" / "homogenization.json").read_text())
    print(f"demo study: {seconds:.0f} s wall time on {os.cpu_count()} cores; report in {sweep / 'report'}")
    for group in summary["groups"]:
        print(f"  {group['group']:<12} {group['metric']} {group['metric_mean']:.3f} "
              f"(runs {group['runs']}), error consistency {group['error_consistency']:.3f}, "
              f"CKA {group['linear_cka']:.3f}")
    for name, entry in summary["headline"].items():
        print(f"  {name:<22} within {entry['within']:.3f} across {entry['across']:.3f} "
              f"difference {entry['difference']:.3f} [{entry['difference_ci'][0]:.3f}, "
              f"{entry['difference_ci'][1]:.3f}]")


if __name__ == "__main__":
    main()
