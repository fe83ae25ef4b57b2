"""How long `promptpo --help` takes, end to end in a fresh process (target: under 0.5 s).

Writes benchmarks/results/cli_startup.json.

    python benchmarks/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "cli_startup.json")
    args = parser.parse_args()
    command = [shutil.which("promptpo") or sys.executable, "--help"]
    if command[0] == sys.executable:
        command = [sys.executable, "-m", "promptpo", "--help"]
    subprocess.run(command, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    result = {"benchmark": "cli_startup", "command": " ".join(Path(c).name for c in command), "runs": args.runs,
              "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
              "target_s": 0.5, "meets_target": max(times) < 0.5}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
