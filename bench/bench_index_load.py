"""How long ``load_index`` takes for an exemplar index of the largest kind, now that loading checks
every thumbnail (its header, then a full PNG decode) besides every entry and field.

    flock /work/cpu.lock python -m bench.bench_index_load [--patches 35136] [--rounds 3]

ResNet-50 at k = 9 holds at most 35,136 thumbnails (one per top-k slot), 64 px PNGs of about 5 kB.
The index is a real one (ResNet-50, random weights, two generated photos) whose patch table is
filled up to ``--patches`` with blurred-noise 64 px PNGs of that size; nothing is downloaded.
Prints the median of the rounds for the whole load and for the thumbnail check alone: absolute
times on purpose, what opening an index of that size costs (one contender, nothing to run in turn).
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

import resnet_viz
from bench.common import report
from resnet_viz.exemplars.store import ExemplarIndex, _check_patches, load_index

ROOT = Path(__file__).resolve().parent.parent


def thumbnails(count: int, seed: int = 0) -> list[bytes]:
    """``count`` 64 px PNGs of about 5 kB (200 distinct ones, repeated)."""
    rng = np.random.default_rng(seed)
    distinct = []
    for _ in range(200):
        noise = Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(2))
        out = io.BytesIO()
        noise.save(out, format="PNG")
        distinct.append(out.getvalue())
    return [distinct[i % len(distinct)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=35_136)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for name in ("chelsea.png", "rocket.jpg"):
            Image.open(ROOT / "assets" / name).convert("RGB").save(folder / f"{Path(name).stem}.png")
        model = resnet_viz.load_model("resnet50", weights="random", device="cpu", layout="nchw")
        small = resnet_viz.build_index(model, folder, top_k=9, workers=0)
        extra = thumbnails(args.patches - small.patch_count)
        full = ExemplarIndex(small.meta, dict(small._arrays), small._patches + extra)
        path = full.save(Path(tmp) / "full.npz")
        size_mb = path.stat().st_size / 1e6
        loads, checks = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            loaded = load_index(path)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            _check_patches(loaded._patches, 64, path.name)
            checks.append(time.perf_counter() - started)
    report(f"load_index of {full.patch_count:,} thumbnails, a {size_mb:.0f} MB file, {args.rounds} rounds", [
        {"what": "load_index", "median": f"{statistics.median(loads):.2f} s",
         "each round": ", ".join(f"{t:.2f}" for t in loads)},
        {"what": "of which the thumbnail check", "median": f"{statistics.median(checks):.2f} s",
         "each round": ", ".join(f"{t:.2f}" for t in checks),
         "per thumbnail": f"{1e6 * statistics.median(checks) / full.patch_count:.0f} us"},
    ], absolute="what opening an index of this size costs")


if __name__ == "__main__":
    main()
