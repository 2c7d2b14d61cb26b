"""Acceptance of the degradation lab on the offline data: the default run, one seed after another.

    flock /work/cpu.lock python -m bench.degradation_acceptance --seeds 10 11 12 [--threads 1] [--json OUT]
        [--set lr=0.02 steps=1200 milestones=0.6,0.85] [--gratings BIN_FILL=0.5 NOISE=0.06]

``--set`` overrides DegradationConfig fields (tuples as comma lists) and ``--gratings`` the
constants of resnet_viz.degradation.gratings that shape the offline data, for tuning candidates; without
them the run is the default one.

For each seed: the final training error (eval mode, fixed training subset) of plain-20, plain-56,
ResNet-20 and ResNet-56, then the two checks of the README:

- degradation: plain-56's final training error is higher than plain-20's, for every seed;
- no degradation with shortcuts: ResNet-56's is not higher than ResNet-20's by more than the noise,
  for every seed. The noise is the larger of (a) the seed-to-seed spread (max - min) of ResNet-20's
  and of ResNet-56's final training error (how much one network moves when only the seed changes)
  and (b) two standard errors of the measured difference (each error rate is measured on
  ``final_train_size`` images: 2 * sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n)).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import time
from pathlib import Path

import torch

from bench.common import machine, report
from resnet_viz import DegradationConfig, degradation_experiment
from resnet_viz.degradation import gratings as gratings_data

NETS = ("plain-20", "plain-56", "ResNet-20", "ResNet-56")
FIELDS = {f.name: f.default for f in dataclasses.fields(DegradationConfig)}


def _overrides(pairs: list[str], defaults: dict, what: str) -> dict:
    """``KEY=VALUE`` strings to values of the default's type (tuples from comma lists)."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(f"error: bad {what} override {pair!r}; keys: {', '.join(defaults)}")
        default = defaults[key]
        if isinstance(default, tuple):
            kind = type(default[0]) if default else float
            out[key] = tuple(kind(v) for v in text.split(",") if v)
        elif isinstance(default, bool):
            out[key] = text.lower() in ("1", "true", "yes")
        else:
            out[key] = type(default)(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the per-seed numbers here")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", help="DegradationConfig overrides")
    parser.add_argument("--gratings", nargs="+", default=[], metavar="NAME=VALUE",
                        help="resnet_viz.degradation.gratings constants (BIN_FILL, NOISE, PERIOD, CONTRAST)")
    args = parser.parse_args()
    overrides = _overrides(args.set, FIELDS, "--set")
    if "seed" in overrides:
        raise SystemExit("error: pass seeds with --seeds, not --set seed=...")
    constants = {k: getattr(gratings_data, k) for k in ("BIN_FILL", "NOISE", "PERIOD", "CONTRAST", "TRAIN_SIZE")}
    for key, value in _overrides(args.gratings, constants, "--gratings").items():
        setattr(gratings_data, key, value)  # read when the offline data is first made, below
    torch.set_num_threads(args.threads)
    print(f"# {machine()}", flush=True)
    if overrides or args.gratings:
        print(f"# overrides: {overrides or ''} {' '.join(args.gratings)}", flush=True)
    rows = {}
    for seed in args.seeds:
        tic = time.perf_counter()
        result = degradation_experiment(seed=seed, device="cpu", **overrides)
        final = {n.name: n.final_train_error for n in result.networks}
        window = {n.name: sum(n.train_error[-4:]) / 4 for n in result.networks}
        rows[seed] = {"final_train_error": final, "last_window_train_error": window,
                      "final_test_error": {n.name: n.final_test_error for n in result.networks},
                      "seconds": time.perf_counter() - tic}
        print(f"seed {seed:>3} ({rows[seed]['seconds']:.0f} s): "
              + "  ".join(f"{k} {100 * final[k]:5.1f}%" for k in NETS), flush=True)

    def column(name: str) -> list[float]:
        return [rows[s]["final_train_error"][name] for s in args.seeds]

    rows = []
    for name in NETS:
        values = column(name)
        rows.append({"network": name, "mean": f"{100 * statistics.mean(values):.1f}",
                     "spread (max - min)": f"{100 * (max(values) - min(values)):.1f}",
                     "per seed": ", ".join(f"{100 * v:.1f}" for v in values)})
    n = DegradationConfig(**overrides).final_train_size
    spread = max(max(column(k)) - min(column(k)) for k in ("ResNet-20", "ResNet-56"))
    plain_gap = [p56 - p20 for p20, p56 in zip(column("plain-20"), column("plain-56"))]
    resnet_gap = [r56 - r20 for r20, r56 in zip(column("ResNet-20"), column("ResNet-56"))]
    noise = [
        max(spread, 2 * math.sqrt(r20 * (1 - r20) / n + r56 * (1 - r56) / n))
        for r20, r56 in zip(column("ResNet-20"), column("ResNet-56"))
    ]
    degradation = all(g > 0 for g in plain_gap)
    no_degradation = all(g <= e for g, e in zip(resnet_gap, noise))
    report("final training error (%) over seeds", rows, notes=[
        f"plain-56 - plain-20:   {', '.join(f'{100 * g:+.1f}' for g in plain_gap)} points -> "
        f"{'higher for every seed' if degradation else 'NOT higher for every seed'}",
        f"ResNet-56 - ResNet-20: {', '.join(f'{100 * g:+.1f}' for g in resnet_gap)} points; noise "
        f"{', '.join(f'{100 * e:.1f}' for e in noise)} (seed spread {100 * spread:.1f}) -> "
        f"{'within noise for every seed' if no_degradation else 'ABOVE noise for some seed'}",
    ])
    if args.json:
        summary = {"machine": machine(), "overrides": overrides, "gratings": args.gratings, "seeds": rows, "noise": noise, "seed_spread": spread,
                   "plain_gap": plain_gap, "resnet_gap": resnet_gap}
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
