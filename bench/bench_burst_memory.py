"""The app's resident memory around bursts of concurrent analyses of one large image.

    python -m bench.bench_burst_memory [--bursts 8 30] [--size 7000] [--arch resnet50] [--root DIR]

It starts `python app.py --weights random` from ``--root`` (default: this checkout; point it at
another checkout to measure that code), uploads one SIZE x SIZE PNG (a few hundred kB: flat
colours compress well, which is the attack: a small file that decodes to many pixels), warms the
model with one analysis of a small photo, and then for each burst sends N /analyze calls at the
same instant. It samples the server's RSS (/proc/PID/status) every 20 ms and prints, per burst:
RSS before, the peak during the burst, and RSS 5 s after the last answer ("kept" = after - before).
A refused image (over the pixel budget) counts as an answer: the point is what the server holds,
so the megabytes are absolute on purpose (to compare two checkouts, run it with each --root).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench.common import machine, report
from bench.served_app import ROOT, AppClient, start_app, stop_app, wait_for

MB = 2**20


def large_png(path: Path, size: int) -> Path:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (size, size), (200, 180, 150))
    draw = ImageDraw.Draw(im)
    for i in range(0, size, max(1, size // 14)):
        draw.ellipse((i, i, i + size // 5, i + size // 8), fill=(40, 90, 160))
    im.save(path, "PNG")
    return path


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def burst(url: str, upload: dict, arch: str, n: int, pid: int) -> tuple[int, int, int, int, float]:
    """(before, peak, after, errors, seconds) for n simultaneous /analyze calls."""
    before = rss_bytes(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes(pid))
            time.sleep(0.02)

    errors = [0]
    gate = threading.Barrier(n)

    def client() -> None:
        rest = AppClient(url)
        gate.wait()
        try:
            rest.call("analyze", upload, arch)
        except RuntimeError:
            errors[0] += 1
        finally:
            rest.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    clients = [threading.Thread(target=client) for _ in range(n)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    seconds = time.perf_counter() - began
    time.sleep(5.0)
    done.set()
    sampler.join()
    return before, peak[0], rss_bytes(pid), errors[0], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, nargs="+", default=[8, 30])
    parser.add_argument("--size", type=int, default=7000)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py runs")
    args = parser.parse_args()
    print(f"# bench_burst_memory: {args.size}x{args.size} PNG, /analyze, {args.arch}, random weights, CPU, "
          f"app from {args.root}\n# {machine()}")
    server, url = start_app(args.root, arch=args.arch)
    rows = []
    try:
        wait_for(url)
        with tempfile.TemporaryDirectory() as tmp:
            big = large_png(Path(tmp) / "large.png", args.size)
            print(f"# the PNG: {big.stat().st_size / 1000:.0f} kB, {args.size * args.size / 1e6:.0f} megapixels")
            rest = AppClient(url)
            rest.call("analyze", rest.upload(ROOT / "assets" / "chelsea.png"), args.arch)  # the model, loaded
            upload = rest.upload(big)
            rest.close()
        for n in args.bursts:
            before, peak, after, errors, seconds = burst(url, upload, args.arch, n, server.pid)
            rows.append({"burst": n, "before MB": f"{before / MB:.0f}", "peak MB": f"{peak / MB:.0f}",
                         "after 5 s MB": f"{after / MB:.0f}", "kept MB": f"{(after - before) / MB:.0f}",
                         "refused": errors, "seconds": f"{seconds:.1f}"})
            print(f"burst of {n}: peak {peak / MB:.0f} MB", flush=True)
    finally:
        stop_app(server)
    report(f"server memory around bursts of /analyze on a {args.size}x{args.size} PNG", rows,
           absolute="what the server holds is the point")


if __name__ == "__main__":
    main()
