"""All performance measurements in one command, run by hand (about 15 minutes on 2 CPU cores):

    python benchmarks/run_all.py

Prints the machine and library versions, then each benchmark's table: the analysis at the target
size, framework overhead and input pipeline, start-up, and sweep throughput. Each benchmark can
also be run alone (see its docstring).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = [
    ("Analysis (50 runs x 10k units x 256 dims, B = 1,000)", ["analysis.py"]),
    ("Framework overhead and input pipeline", ["overhead.py", "--batches", "100"]),
    ("Start-up", ["startup.py"]),
    ("Sweep throughput (3 models x 2 seeds)", ["sweep_throughput.py"]),
    ("The zero-setup demo study (experiment=demo, cold caches)", ["demo.py"]),
]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
               platform.processor())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    libraries = ", ".join(f"{name} {version(name)}" for name in
                          ("torch", "pytorch-lightning", "hydra-core", "transformers", "numpy"))
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GB; Python {platform.python_version()}; {libraries}"


def main() -> None:
    print(f"Machine: {machine()}\n", flush=True)
    for title, command in BENCHMARKS:
        print(f"## {title}", flush=True)
        result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / command[0]), *command[1:]],
                                cwd=ROOT, capture_output=True, text=True)
        lines = [line for line in result.stdout.splitlines()
                 if line.startswith("|") or "runs x" in line or "imported" in line or "~" in line]
        print("\n".join(lines) if result.returncode == 0 else f"failed:\n{result.stderr[-2000:]}")
        print(flush=True)


if __name__ == "__main__":
    main()
