"""Make the trust checks' trained lab network(s), the checkpoints under assets/.

    python -m bench.make_trust_lab                       # assets/trust_lab_true.pt
    python -m bench.make_trust_lab --labels permuted     # the data randomisation test's network

Trains :class:`resnet_viz.trust.LabConfig`'s defaults (ResNet-20 on 2,000 scenes of 32x32 with a
16x16 grating, 600 SGD steps of 32, cosine lr from 0.05; permuted labels: 1,000 steps on 500
scenes, ``resnet_viz.trust.data_randomisation.PERMUTED_CONFIG``) on one torch thread, seed 0, and
saves it with its config and accuracies (float16 weights, about 0.6 MB). The same command on
another CPU gives a network of the same quality, not necessarily the same bits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bench.common import report
from resnet_viz.trust.data_randomisation import PERMUTED_CONFIG, TRUE_CONFIG
from resnet_viz.trust.lab import save_lab_network, train_lab_network

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", choices=["true", "permuted"], default="true")
    parser.add_argument("--out", type=Path, help="default: assets/trust_lab_<labels>.pt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = TRUE_CONFIG if args.labels == "true" else PERMUTED_CONFIG
    start = time.perf_counter()
    network = train_lab_network(config, progress=lambda f: print(f"\r{100 * f:5.1f}% {time.perf_counter() - start:6.0f} s", end="", file=sys.stderr))
    out = args.out or ASSETS / f"trust_lab_{args.labels}.pt"
    save_lab_network(network, out)
    print(file=sys.stderr)
    report(f"trained lab network, wrote {out} ({time.perf_counter() - start:.0f} s)",
           [{"network": args.labels + " labels", "config and accuracies": json.dumps(network.to_json())}])


if __name__ == "__main__":
    main()
