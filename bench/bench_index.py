"""Exemplar index throughput: ``--engine local`` against a bare batched torchvision forward over the
same decoded images, and ``--engine ray`` against ``--engine local``, on this machine.

    flock /work/cpu.lock python -m bench.bench_index [--arch resnet50] [--images 192] [--rounds 2]

The folder is generated (no download): JPEGs of about ImageNet's size (long side 400-600 px,
quality 90) cut from the example photos with random crops, flips and scales, seeded.

Contenders, run in turn round after round in one process:

- bare forward: torchvision's model (same weights, its default NCHW layout) over tensors decoded
  beforehand, batch ``--batch-size``: the network's cost alone, no file is read;
- bare stages, channels-last: our model's ``forward_stages`` as the index runs it (channels-last
  memory, no head) over the same pre-decoded tensors: what the index pays for the network alone;
- decode + forward, serial: torchvision's forward again, decoding each batch first in this process
  (what a loop without worker processes would do);
- index local: ``build_index(engine="local")``: files decoded by DataLoader workers while the model
  runs, running top-k, then the patch pass;
- index ray: ``build_index(engine="ray")`` on a local Ray started once before the rounds (its start
  is reported apart): each build starts its actor pool (one replica per CPU, each loading the
  model and running it on one thread) and ends it.

"scoring" rates count the first pass only (every image decoded and scored); the patch pass
(re-decoding the winners, cutting PNG thumbnails) is a cost per index bounded by k x channels
patches, not per image, and is reported apart. The local engine's "steady" rate excludes the first
batch (worker start-up) and comes from the progress callback's timestamps. Ratios are the point
(medians of per-round ratios); images/s, the patch pass and the file size are given absolute as
what a user of this machine waits and stores.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image, ImageOps

from bench.common import machine, report, verdict
from resnet_viz import build_index, load_image, load_model, preprocess

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def make_images(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` JPEGs of 400-600 px on the long side, cut from the example photos."""
    rng = random.Random(seed)
    photos = [Image.open(p).convert("RGB") for p in sorted(ASSETS.iterdir()) if p.suffix in (".png", ".jpg")]
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = photo.size
        cw, ch = int(w * rng.uniform(0.55, 1.0)), int(h * rng.uniform(0.55, 1.0))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        im = photo.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            im = ImageOps.mirror(im)
        scale = rng.uniform(400, 600) / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.BICUBIC)
        path = folder / f"{i // 64:02d}" / f"img{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path, quality=90)
        paths.append(path)
    return paths


class Clock:
    """A progress callback that records (time, images done) of the scoring pass."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []

    def __call__(self, fraction, status) -> None:
        if status.phase == "scoring" and status.done:
            self.marks.append((time.perf_counter(), status.done))

    def steady(self) -> float:
        (t0, n0), (t1, n1) = self.marks[0], self.marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--images", type=int, default=192)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="local engine's decoding processes")
    parser.add_argument("--replicas", type=int, default=None, help="ray engine's model replicas (default: 1 per CPU)")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    print(f"# bench_index: {args.arch}, {args.images} generated JPEGs, batch {args.batch_size}, CPU\n# {machine()}")

    tmp = tempfile.TemporaryDirectory(prefix="bench-index-")
    folder = Path(tmp.name) / "photos"
    paths = make_images(folder, args.images)
    model = load_model(args.arch, "random", "cpu")
    reference = torchvision.models.get_model(args.arch).eval()
    reference.load_state_dict(model.state_dict())
    transforms = model.meta.transforms

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    cpu = time.process_time()
    decoded = [preprocess(transforms, load_image(p)) for p in paths]
    decode_s, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
    torch.set_num_threads(threads)
    size_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1e3
    print(
        f"decode + preprocess, one thread: {1000 * decode_s / len(paths):.1f} ms/image wall, "
        f"{1000 * decode_cpu / len(paths):.1f} ms CPU (JPEGs of {size_kb:.0f} kB on average)"
    )

    def bare() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(decoded), args.batch_size):
                reference(torch.stack(decoded[i : i + args.batch_size]))
        return time.perf_counter() - start

    def stages() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(decoded), args.batch_size):
                model.forward_stages(
                    torch.stack(decoded[i : i + args.batch_size]).contiguous(memory_format=torch.channels_last)
                )
        return time.perf_counter() - start

    def serial() -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(paths), args.batch_size):
                batch = [preprocess(transforms, load_image(p)) for p in paths[i : i + args.batch_size]]
                reference(torch.stack(batch))
        return time.perf_counter() - start

    results: dict[str, list[dict[str, float]]] = {"bare": [], "stages": [], "serial": [], "local": [], "ray": []}
    built: dict[str, object] = {}

    def indexed(engine: str) -> dict[str, float]:
        clock = Clock()
        kwargs = {"workers": args.workers} if engine == "local" else {"workers": args.replicas}
        start = time.perf_counter()
        built[engine] = build_index(model, folder, engine=engine, batch_size=args.batch_size, progress=clock, **kwargs)
        total = time.perf_counter() - start
        meta = built[engine].meta
        return {
            "total": total,
            "scoring": meta["scoring_s"],
            "patches": total - meta["scoring_s"],
            "steady": clock.steady(),
        }

    ray_ready = False
    if not args.no_ray:
        import ray

        start = time.perf_counter()
        package = Path(__file__).resolve().parent.parent / "resnet_viz"
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 runtime_env={"py_modules": [str(package)]}, logging_level="WARNING")  # fmt: skip
        print(f"ray.init (local, {os.cpu_count()} CPUs): {time.perf_counter() - start:.1f} s, once")
        ray_ready = True
    try:
        for round_ in range(args.rounds):
            results["bare"].append({"total": bare()})
            results["stages"].append({"total": stages()})
            results["serial"].append({"total": serial()})
            results["local"].append(indexed("local"))
            if ray_ready:
                results["ray"].append(indexed("ray"))
            print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]['total']:.1f} s" for k, v in results.items() if v),
                  flush=True)  # fmt: skip
    finally:
        if ray_ready:
            ray.shutdown()
    summarise(args, results, built.get("local"), len(paths), built.get("ray"))
    tmp.cleanup()


def compare(local, on_ray) -> str:
    """Do both engines' indexes agree? Scores to float rounding; images exactly (or at a near tie)."""
    import numpy as np

    channels = scores_differ = images_differ = 0
    for stage in local.stages:
        for channel in range(local.channels(stage)):
            a, b = local.top(stage, channel), on_ray.top(stage, channel)
            channels += 1
            if not np.allclose([e.score for e in a], [e.score for e in b], rtol=1e-4, atol=1e-5):
                scores_differ += 1
            elif [e.image for e in a] != [e.image for e in b]:
                images_differ += 1  # equal scores to 1e-4, so a tie decided by float rounding
    return (
        f"ray index vs local index: {channels} channels, score lists differ in {scores_differ}, "
        f"image order differs at a near tie in {images_differ}"
    )


def summarise(args, results, index, n: int, on_ray) -> None:
    def rate(name: str, key: str = "total") -> float:
        return statistics.median(n / r[key] for r in results[name])

    def ratio(a: str, b: str, key_a: str = "total", key_b: str = "total") -> float:
        return statistics.median(x[key_b] / y[key_a] for y, x in zip(results[a], results[b]))

    rows = [{"what": "bare torchvision forward, pre-decoded (baseline)", "images/s": f"{rate('bare'):.2f}"}]
    for name, label in (("stages", "bare stages C1-C5, ours, channels-last"), ("serial", "decode + forward, serial")):
        rows.append({"what": label, "images/s": f"{rate(name):.2f}", "ratio to bare": f"{ratio(name, 'bare'):.2f}x"})
    notes = []
    for engine in ("local", "ray"):
        if not results[engine]:
            continue
        scoring = ratio(engine, "bare", "scoring")
        row = {"what": f"index {engine}, scoring pass", "images/s": f"{rate(engine, 'scoring'):.2f}",
               "ratio to bare": f"{scoring:.2f}x", "ratio to bare stages": f"{ratio(engine, 'stages', 'scoring'):.2f}x"}
        if engine == "local":
            row.update(target=">= 0.85x", verdict=verdict(scoring, 0.85, at_least=True))
            # Ray hands results back in bursts, so a rate between progress calls means little there.
            notes.append(f"index local, steady rate after the first batch: "
                         f"{statistics.median(r['steady'] for r in results[engine]):.2f} images/s")
        rows.append(row)
        patches = statistics.median(r["patches"] for r in results[engine])
        rows.append({"what": f"index {engine}, end to end (+ patch pass {patches:.1f} s)",
                     "images/s": f"{rate(engine):.2f}", "ratio to bare": f"{ratio(engine, 'bare'):.2f}x"})
    if results["ray"]:
        notes.append(f"ray / local, scoring pass: {ratio('ray', 'local', 'scoring', 'scoring'):.2f}x; "
                     f"end to end: {ratio('ray', 'local'):.2f}x")
    if on_ray is not None and index is not None:
        notes.append(compare(index, on_ray))
    if index is not None:
        with tempfile.TemporaryDirectory() as tmp:
            size = index.save(Path(tmp) / "i.npz").stat().st_size
        count, each = index.patch_count, index.patch_bytes / max(index.patch_count, 1) / 1e3
        notes.append(f"index file: {size / 1e6:.1f} MB, {count} patch thumbnails ({each:.1f} kB each)")
    report(f"{args.arch}, {n} images: images/s (median of {args.rounds} rounds)", rows, notes=notes,
           absolute="images/s and the patch pass are what indexing a folder takes here; the ratios compare")

if __name__ == "__main__":
    main()
