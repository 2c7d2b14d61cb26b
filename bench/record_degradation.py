"""Record a preset's degradation run for the app to show before a live run.

    flock /work/cpu.lock python -m bench.record_degradation [--preset default|deeper] [--seed 0] [--threads 1]
        [--out PATH]

The default preset goes to assets/degradation_recorded.json (shown when the lab opens), "deeper" to
assets/degradation_recorded_deeper.json (shown when a visitor chooses that preset).

The file is the run's :meth:`DegradationResult.to_json` plus how it was made: the command, the
machine (CPU model, cores), torch's version and thread count, the date and the wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from bench.common import machine, report
from resnet_viz import degradation_experiment
from resnet_viz.degradation.presets import PRESETS, first_to_last_ratio
from resnet_viz.serve.degradation_lab import RECORDED_RUNS


def _rounded(value):
    """Floats to 5 significant digits: a smaller file, and more digits would be noise anyway."""
    if isinstance(value, float):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="default", choices=list(PRESETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="default: the lab's file for the preset")
    args = parser.parse_args()
    out = args.out or str(RECORDED_RUNS[args.preset])
    config = PRESETS[args.preset].config
    torch.set_num_threads(args.threads)
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    tic = time.perf_counter()
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "seed"}
    result = degradation_experiment(seed=args.seed, device="cpu", **fields)
    wall = time.perf_counter() - tic
    payload = {
        "recorded": {
            "command": shlex.join(["python", "-m", "bench.record_degradation", *sys.argv[1:]]),
            "equivalent_cli": f"python -m resnet_viz degradation --preset {args.preset} --seed {args.seed} "
            f"--device cpu --threads {args.threads}",
            "machine": machine(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": args.threads,
            "date": date,
            "wall_seconds": round(wall, 1),
        },
        **_rounded(result.to_json()),
    }
    Path(out).write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    report(f"recorded run ({args.preset} preset), wrote {out} ({wall:.0f} s)", [
        {"network": n.name, "final training error": f"{100 * n.final_train_error:.1f}%",
         "gradient first/last layer at step 1": f"{first_to_last_ratio(n):,.1f}x"}
        for n in result.networks])

if __name__ == "__main__":
    main()
