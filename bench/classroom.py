"""A class on the explorer's page: students simulated with gradio_client, every answer checked
against the student's own photo.

Each student is one ``gradio_client.Client`` (one page session: ``Client(url)`` fetches the page's
config, as opening the page does) and calls, in that session, the events a browser sends for what
the student does. Where a named endpoint exists it is used (``/attribute`` for Grad-CAM and
occlusion); the other actions exist only as the page's own events (undocumented, but called by
api name and fn_index like any other), since they work on the session's analysis:

- **page open**: ``Client(url)``, then the page's load event (``on_load``: the shared example) and
  its chained ``on_derived`` (the example's Grad-CAM and gradient flow), as the browser runs them;
- **upload/analyse**: the photo box's upload event (``on_photo``: the analysis the session keeps)
  and its chained ``on_derived`` (Grad-CAM of the top-1 and gradient flow). The named
  ``/analyze`` would analyse the photo too, but keeps nothing for the stage switches after it;
- **stage switch**: the stage tab's ``on_view`` (a re-render from the session, no forward pass);
  a student who visualises a channel first types its number (``on_channel``, counted here too);
- **Grad-CAM**: ``/attribute`` with ``gradcam`` at C4 (short model work);
- **slow**: ``/attribute`` with ``occlusion``, or the channel panel's feature visualisation
  (``on_arm``, then ``on_compute``, as the Visualise button does), every fifth student, in turn.

Outputs are not downloaded (``download_files=False``: the client shares the cores with the
server). An answer that succeeds but does not match the student's photo (its top-1 and
probability, a stage's first channel, its largest value and zeros, a Grad-CAM raw range, all
computed in-process with the same random weights, see :class:`Photo`) counts as "mixed".
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from gradio_client import Client, handle_file
from PIL import Image, ImageOps

__all__ = ["KINDS", "SHORT", "Photo", "Plan", "Record", "make_photos", "plans", "run_class"]

KINDS = ("page open", "upload/analyse", "stage switch", "Grad-CAM", "slow")
SHORT = KINDS[:4]  # the requests the p95 criterion is about
SLOW_KINDS = ("occlusion", "feature vis")
FEATVIS_STAGE = "C4"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
BASES = [ASSETS / name for name in ("chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png")]
EXAMPLE = BASES[0]  # what the page shows on load (resnet_viz.ui.page.EXAMPLES[0])


@dataclass(frozen=True)
class StageFacts:
    first: int  # the channel the grid ranks first (highest mean activation)
    peaks: tuple[float, ...]  # every channel's largest value
    zeros: float  # percent of zeros after the ReLU


@dataclass(frozen=True)
class Photo:
    """A student's photo and what the server must answer for it (same arch, same random weights)."""

    path: Path
    label: str
    probability: float
    stages: dict[str, StageFacts]
    ladder_c5: tuple[float, float]  # Grad-CAM C5 raw range of the top-1 (the upload's chained Grad-CAM)
    gradcam_c4: tuple[float, float]  # /attribute gradcam at C4


def close(value: float, expected: float, rel: float = 1e-3, abs_: float = 1e-7) -> bool:
    return abs(value - expected) <= max(abs_, rel * abs(expected))


def shown_close(text: str, expected: float, digits: int = 3) -> bool:
    """A number printed with ``digits`` significant digits (``:.3g``) is ``expected``, rounded."""
    value = float(text)
    if expected == 0:
        return value == 0
    unit = 10 ** (math.floor(math.log10(abs(expected))) - digits + 1)
    return abs(value - expected) <= 0.51 * unit + 1e-4 * abs(expected)


def _photo_facts(model: Any, path: Path) -> Photo:
    from resnet_viz.draw.render import rank_channels
    from resnet_viz.explain.attribution import attribute
    from resnet_viz.model.preprocess import load_image, working_side
    from resnet_viz.probe.analysis import analyze

    picture = load_image(path, short_side=working_side(model.meta.transforms))  # as the server decodes it
    report, tensors = analyze(model, picture, return_tensors=True)
    stages = {}
    for row in report.stages:
        tensor = tensors.stages[row["name"]].to(torch.float16).float()  # (C, H, W), as a session keeps it
        stages[row["name"]] = StageFacts(rank_channels(tensor, 32)[0], tuple(tensor.amax(dim=(1, 2)).tolist()),
                                         100 * row["zero_fraction"])
    top = report.predictions[0]
    ladder = attribute(model, picture, "gradcam_ladder")
    cam = attribute(model, picture, "gradcam", stage="C4")
    return Photo(path, top["label"], top["probability"], stages, tuple(ladder["raw_ranges"]["C5"]), tuple(cam["raw_range"]))


def make_photos(count: int, arch: str, folder: Path, seed: int = 0) -> tuple[list[Photo], Photo]:
    """``count`` different photos (crops and mirrors of the example photos, as JPEG), each with
    its expected answers, and the page's example; a crop whose top-1 and probability another photo
    already has (a swap between the two could not be told) is drawn again."""
    from resnet_viz.model.weights import load_model

    model = load_model(arch, weights="random", device="cpu", layout="nchw")
    rng = random.Random(seed)
    photos: list[Photo] = []
    while len(photos) < count:
        base = BASES[len(photos) % len(BASES)]
        with Image.open(base) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        w, h = image.size
        side = rng.uniform(0.6, 0.95)
        cw, ch = int(w * side), int(h * side)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = image.crop((x, y, x + cw, y + ch))
        if rng.random() < 0.5:
            crop = ImageOps.mirror(crop)
        crop.thumbnail((512, 512))
        path = folder / f"student-{len(photos):02d}.jpg"
        crop.save(path, quality=90)
        photo = _photo_facts(model, path)
        if all(p.label != photo.label or not close(p.probability, photo.probability, rel=3e-3) for p in photos):
            photos.append(photo)
    return photos, _photo_facts(model, EXAMPLE)


@dataclass(frozen=True)
class Plan:
    """What one student does: when they arrive, how long they think before each action, their
    photo, their slow method (None, "occlusion" or "feature vis"), and whether they wait for a
    burst (``burst_at``: seconds after the class starts, and every other burst student ready) to
    run it, thinking no longer."""

    student: int
    arrival: float
    thinks: tuple[float, ...]
    slow: str | None
    burst_at: float | None = None
    short: bool = True  # False: only open, upload and the slow method (a burst student)


def plans(count: int, seed: int = 0, ramp_s: float = 10.0, think_s: tuple[float, float] = (1.0, 4.0)) -> list[Plan]:
    """The first ``count`` students of a seeded class: student i does the same in every class size."""
    out = []
    for i in range(count):
        rng = random.Random(seed * 100_003 + i)
        slow = SLOW_KINDS[(i // 5) % 2] if (i + 1) % 5 == 0 else None
        out.append(Plan(i, rng.uniform(0, ramp_s), tuple(rng.uniform(*think_s) for _ in range(6)), slow))
    return out


@dataclass
class Record:
    student: int
    kind: str
    event: str
    started: float  # seconds after the class started
    seconds: float
    ok: bool
    mixed: bool = False
    error: str = ""


@dataclass
class PageEvents:
    """The page's events by fn_index (from the config the client fetched), and where their outputs are."""

    config: dict
    ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        deps = self.config["dependencies"]
        named = {d["api_name"]: d for d in deps if d.get("api_name")}
        after = {d.get("trigger_after"): d for d in deps if str(d.get("api_name", "")).startswith("on_derived")}
        self.deps = {d["id"]: d for d in deps}
        self.components = {c["id"]: c for c in self.config["components"]}
        load, photo = named["on_load"], named["on_photo"]
        self.ids = {"load": load["id"], "load_derived": after[load["id"]]["id"], "photo": photo["id"],
                    "photo_derived": after[photo["id"]]["id"], "view": named["on_view"]["id"],
                    "channel": named["on_channel"]["id"], "compute": named["on_compute"]["id"]}
        self.ids["arm"] = self.deps[self.ids["compute"]]["trigger_after"]

    def inputs(self, name: str, **values: Any) -> list:
        """The event's inputs: the components' defaults, with ``values`` by elem_id (or "ranking")."""
        out = []
        for cid in self.deps[self.ids[name]]["inputs"]:
            props = self.components[cid].get("props", {})
            out.append(values.get(props.get("elem_id") or "", props.get("value")))
        return out

    def output(self, name: str, result: tuple, elem_id: str) -> Any:
        outputs = self.deps[self.ids[name]]["outputs"]
        for value, cid in zip(result, outputs):
            if self.components[cid].get("props", {}).get("elem_id") == elem_id:
                return value
        raise KeyError(elem_id)


# --- checks: does an answer belong to this photo? ---------------------------------------------

def _predictions_match(events: PageEvents, name: str, result: tuple, photo: Photo) -> bool:
    top = events.output(name, result, "predictions")["confidences"][0]
    return top["label"].startswith(photo.label + " ·") and close(top["confidence"], photo.probability)


def _derived_match(events: PageEvents, name: str, result: tuple, photo: Photo) -> bool:
    info = events.output(name, result, "attribution-info")
    found = re.search(r"for \*\*(.+?)\*\* .*raw range \[([-\d.e+]+), ([-\d.e+]+)\]", info)
    return bool(found) and found[1] == photo.label and shown_close(found[3], photo.ladder_c5[1])


def _view_match(events: PageEvents, name: str, result: tuple, photo: Photo, stage: str, channel: int | None = None) -> bool:
    facts = photo.stages[stage]
    caption = events.output(name, result, "channel-caption")
    found = re.search(r"\*\*(C\d), channel (\d+)\*\*.*largest value ([-\d.e+]+)\)", caption)
    if not found or found[1] != stage:
        return False
    number = int(found[2])
    if number != (facts.first if channel is None else channel) or not shown_close(found[3], facts.peaks[number]):
        return False
    if name == "view":  # the grid's stage line: its zeros after the ReLU, in whole percents
        zeros = re.search(r"(\d+)% zeros", events.output(name, result, "stage-info"))
        return bool(zeros) and abs(int(zeros[1]) - facts.zeros) <= 0.51
    return True


def _attribution_match(result: dict, photo: Photo, raw: tuple[float, float] | None) -> bool:
    target = result["target"]
    ok = target["label"] == photo.label and close(target["probability"], photo.probability)
    return ok and (raw is None or close(result["raw_range"][1], raw[1]))


# --- one student ----------------------------------------------------------------------------------

class Student:
    def __init__(self, plan: Plan, photo: Photo, example: Photo, url: str, arch: str, t0: float,
                 records: list[Record], lock: threading.Lock, channel: int, timeout: float,
                 burst: threading.Barrier | None = None) -> None:
        self.plan, self.photo, self.example, self.url, self.arch = plan, photo, example, url, arch
        self.t0, self.records, self.lock, self.channel, self.timeout = t0, records, lock, channel, timeout
        self.burst = burst
        self.client: Client | None = None
        self.events: PageEvents | None = None

    def _sleep_until(self, at: float) -> None:
        time.sleep(max(0.0, self.t0 + at - time.perf_counter()))

    def _action(self, kind: str, event: str, fn: Callable[[], bool]) -> bool:
        """Times ``fn`` (True: the answer matched the photo); returns whether the student can go on."""
        began = time.perf_counter()
        try:
            matched = fn()
            record = Record(self.plan.student, kind, event, began - self.t0, time.perf_counter() - began, True, not matched)
        except Exception as exc:  # a refusal, an error message, a timeout: the student saw a failure
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            record = Record(self.plan.student, kind, event, began - self.t0, time.perf_counter() - began, False, error=text)
        with self.lock:
            self.records.append(record)
        return record.ok

    def _call(self, name: str, *data: Any) -> tuple:
        result = self.client.submit(*data, fn_index=self.events.ids[name]).result(timeout=self.timeout)
        return result if isinstance(result, tuple) else (result,)

    def _api(self, *data: Any) -> dict:
        return self.client.submit(*data, api_name="/attribute").result(timeout=self.timeout)

    def open_page(self) -> bool:
        self.client = Client(self.url, verbose=False, download_files=False, analytics_enabled=False)
        self.events = PageEvents(self.client.config)
        loaded = self._call("load", *self.events.inputs("load"))
        derived = self._call("load_derived", *self.events.inputs("load_derived"))
        return (_predictions_match(self.events, "load", loaded, self.example)
                and _derived_match(self.events, "load_derived", derived, self.example))

    def upload(self) -> bool:
        shown = self._call("photo", *self.events.inputs("photo", photo=handle_file(str(self.photo.path))))
        derived = self._call("photo_derived", *self.events.inputs("photo_derived"))
        return (_predictions_match(self.events, "photo", shown, self.photo)
                and _derived_match(self.events, "photo_derived", derived, self.photo))

    def switch(self, stage: str) -> bool:
        result = self._call("view", *self.events.inputs("view", stage=stage))
        return _view_match(self.events, "view", result, self.photo, stage)

    def gradcam(self) -> bool:
        result = self._api(handle_file(str(self.photo.path)), self.arch, "gradcam", "", "C4")
        return _attribution_match(result, self.photo, self.photo.gradcam_c4)

    def occlusion(self) -> bool:
        result = self._api(handle_file(str(self.photo.path)), self.arch, "occlusion", "", "C5")
        return _attribution_match(result, self.photo, None)

    def pick_channel(self) -> bool:
        result = self._call("channel", *self.events.inputs("channel", stage=FEATVIS_STAGE, channel=self.channel))
        return _view_match(self.events, "channel", result, self.photo, FEATVIS_STAGE, self.channel)

    def visualise(self) -> bool:
        self.client.submit(fn_index=self.events.ids["arm"]).result(timeout=self.timeout)
        result = self._call("compute", *self.events.inputs("compute", stage=FEATVIS_STAGE, channel=self.channel))
        note = self.events.output("compute", result, "featvis-note")
        return f"**{FEATVIS_STAGE} channel {self.channel}**" in note and "responds to most, after" in note

    def run(self) -> None:
        plan, think = self.plan, iter(self.plan.thinks)
        self._sleep_until(plan.arrival)
        steps: list[tuple[str, str, Callable[[], bool]]] = [("page open", "open", self.open_page),
                                                            ("upload/analyse", "upload", self.upload)]
        if plan.short:
            steps += [("stage switch", "C3", lambda: self.switch("C3")), ("stage switch", "C4", lambda: self.switch("C4")),
                      ("Grad-CAM", "gradcam C4", self.gradcam)]
        if plan.slow == "feature vis":  # the channel panel works on the stage on screen: C4, then the typed channel
            steps += [] if plan.short else [("stage switch", "C4", lambda: self.switch(FEATVIS_STAGE))]
            steps += [("stage switch", "channel", self.pick_channel), ("slow", "feature vis", self.visualise)]
        elif plan.slow == "occlusion":
            steps += [("slow", "occlusion", self.occlusion)]
        try:
            for number, (kind, event, fn) in enumerate(steps):
                if kind == "slow" and plan.burst_at is not None:
                    self._sleep_until(plan.burst_at)  # no thinking: the burst's methods start together,
                    if self.burst is not None:  # once every burst student is ready
                        self.burst.wait(timeout=self.timeout)
                elif number:
                    time.sleep(next(think, 2.0))
                if not self._action(kind, event, fn) and kind in ("page open", "upload/analyse"):
                    break  # a failed page open or upload leaves nothing to go on with
        finally:
            if self.client is not None:
                self.client.close()


def run_class(url: str, arch: str, class_plans: list[Plan], photos: list[Photo], example: Photo,
              channels: Callable[[], int], timeout: float = 120.0) -> tuple[list[Record], float]:
    """Every student in their own thread; (records, seconds from the class's start to its end)."""
    records: list[Record] = []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.5
    bursting = sum(p.burst_at is not None for p in class_plans)
    burst = threading.Barrier(bursting) if bursting else None
    students = [Student(p, photos[p.student], example, url, arch, t0, records, lock,
                        channels() if p.slow == "feature vis" else 0, timeout, burst) for p in class_plans]
    threads = [threading.Thread(target=s.run, daemon=True) for s in students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(records, key=lambda r: r.started), time.perf_counter() - t0
