"""The running app on this CPU: upload-to-predictions-and-grid latency and re-render time.

    python -m bench.bench_app [--arch resnet50] [--uploads 12] [--changes 20]

Starts `python app.py --weights random` in a subprocess (the same computation as ImageNet
weights), drives it with Debian's chromium through Playwright, and reports medians:
- upload -> predictions and C1-C5 grid shown (target <= 1.5 s);
- stage change -> new grid shown, in the browser and as server time (target <= 150 ms server);
and, in-process, the server-side time of the re-render handlers on a ResNet-50 session.
These are absolute times on purpose: the targets are what a visitor waits, so there is no
contender to run in turn; read them with the load average the report prints.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import latency_row, machine, report
from bench.served_app import PHOTOS, start_app, stop_app, wait_for


def distinct_photos(count: int, folder: Path) -> list[Path]:
    """``count`` different pictures (the examples, cropped at shifting offsets): every upload is new."""
    from PIL import Image

    paths = []
    for i in range(count):
        with Image.open(PHOTOS[i % len(PHOTOS)]) as im:
            shift = 4 * (i // len(PHOTOS) + 1)
            picture = im.convert("RGB").crop((shift, shift, im.width - shift, im.height - shift))
        paths.append(folder / f"upload-{i}.png")
        picture.save(paths[-1])
    return paths


def browser_latencies(url: str, uploads: int, changes: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import expect, sync_playwright

    upload_s, change_s = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        expect(page.locator("#status")).to_contain_text("last analysis", timeout=120_000)
        page.get_by_role("tab", name="Stage features C1-C5").click()
        grid = page.locator("#grid img")
        expect(grid).to_be_visible(timeout=60_000)
        with tempfile.TemporaryDirectory() as folder:
            for path in distinct_photos(uploads, Path(folder)):
                before = grid.get_attribute("src")
                start = time.perf_counter()
                page.locator("#photo input[type=file]").set_input_files(str(path))
                expect(grid).not_to_have_attribute("src", before, timeout=60_000)
                upload_s.append(time.perf_counter() - start)
        stages = ["C3", "C4", "C5", "C2", "C1"]
        for i in range(changes):
            stage = stages[i % len(stages)]
            start = time.perf_counter()
            page.locator("#stage").get_by_label(stage, exact=True).check()
            expect(page.locator("#stage-info")).to_contain_text(f"{stage}:", timeout=30_000)
            change_s.append(time.perf_counter() - start)
        browser.close()
    return upload_s, change_s


def server_times(arch: str, rounds: int) -> dict[str, list[float]]:
    """The re-render handlers as the server runs them (no forward pass), plus Gradio's own
    postprocessing of their pictures (PNG files in its cache), which is server time too."""
    import gradio as gr

    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.registry import ModelRegistry
    from resnet_viz.ui.stages import channel_view, grid_view

    explorer = Explorer(ModelRegistry("random", "cpu"))
    session = explorer.analyze(str(PHOTOS[0]), arch, "bench")
    png = gr.Image(format="png")
    times: dict[str, list[float]] = {"stage change (grid + first channel, PNGs)": [], "channel/opacity change (PNG)": []}
    for i in range(rounds):
        stage = ["C1", "C2", "C3", "C4", "C5"][i % 5]
        start = time.perf_counter()
        grid, _, _ = grid_view(explorer, session, stage, "mean", 32, "en")
        shown = session.outputs["channels"]
        picture, _ = channel_view(session, stage, shown[0], 0.6, "en")
        png.postprocess(grid), png.postprocess(picture)
        times["stage change (grid + first channel, PNGs)"].append(time.perf_counter() - start)
        start = time.perf_counter()
        png.postprocess(channel_view(session, stage, shown[1], 0.3 + 0.01 * i, "en")[0])
        times["channel/opacity change (PNG)"].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--uploads", type=int, default=12)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    print(f"# bench_app: {args.arch}, random weights, CPU\n# {machine()}")

    server, url = start_app(arch=args.arch)
    try:
        wait_for(url)
        uploads, changes = browser_latencies(url, args.uploads, args.changes)
    finally:
        stop_app(server)

    why = "the targets are a visitor's wait"
    report("through the browser", [latency_row("upload -> predictions + grid shown", uploads, 1.5),
                                   latency_row("stage change -> new grid shown", changes)], absolute=why)
    report("server time of the re-render handlers (in-process)",
           [latency_row(name, samples, 0.150) for name, samples in server_times(args.arch, args.changes).items()],
           absolute=why)


if __name__ == "__main__":
    main()
