"""Dataset exemplars, local engine: scores against torchvision, the running top-k, the folder walk,
patch boxes against gradients, the file format and its validation, and the CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from resnet_viz import build_model, load_index, load_model, stage_geometry, weights_sha256
from resnet_viz.cli.main import main
from resnet_viz.exemplars import IndexFileError, build_index, local
from resnet_viz.exemplars.topk import empty_topk, merge_topk
from resnet_viz.model.preprocess import crop_image, load_image, preprocess
from resnet_viz.probe.architecture import architecture_table

from .index_folder import READABLE, UNREADABLE, rewrite_index, shared_folder, shared_index

STAGES = ["C1", "C2", "C3", "C4", "C5"]
TOL = dict(rel=1e-4, abs=1e-5)  # batched convolutions sum in another order than one-image ones


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return shared_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """k = 9 > 6 images: every image is in every channel's list. Batches of 4 in 1 worker process."""
    return shared_index(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(resnet18, folder) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per stage: (images, channels) scores, argmax positions and top-2 gap, from torchvision's
    ResNet-18 holding the same weights, one image at a time."""
    tv = torchvision.models.resnet18().eval()
    tv.load_state_dict(resnet18.state_dict())
    taps = create_feature_extractor(tv, {s.module: s.name for s in resnet18.stages})
    out: dict[str, list] = {name: [] for name in STAGES}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one small image at a time: on busy cores, a second thread only waits
    try:
        with torch.no_grad():
            for name in READABLE:
                x = preprocess(resnet18.meta.transforms, load_image(folder / name)).unsqueeze(0)
                for stage, t in taps(x).items():
                    flat = t[0].flatten(1)  # (C, H*W)
                    top2 = flat.topk(2, dim=1).values
                    out[stage].append((flat.amax(1), flat.argmax(1), top2[:, 0] - top2[:, 1]))
    finally:
        torch.set_num_threads(threads)
    return {s: tuple(torch.stack(parts).numpy() for parts in zip(*rows)) for s, rows in out.items()}


def _width(index, stage: str) -> int:
    return next(s["width"] for s in index.meta["stages"] if s["name"] == stage)


@pytest.mark.slow
def test_scores_and_positions_equal_torchvision(index, reference):
    order = {name: i for i, name in enumerate(READABLE)}
    for stage in STAGES:
        scores, argmax, gap = reference[stage]
        for channel in range(index.channels(stage)):
            entries = index.top(stage, channel)
            assert sorted(e.image for e in entries) == sorted(READABLE)
            for e in entries:
                i = order[e.image]
                assert e.score == pytest.approx(float(scores[i, channel]), **TOL), (stage, channel, e.image)
                if gap[i, channel] > 1e-4 or scores[i, channel] == 0:  # a clear maximum, or all zero: first
                    assert e.position[0] * _width(index, stage) + e.position[1] == argmax[i, channel]
            ranked = [(-e.score, e.image_index) for e in entries]
            assert ranked == sorted(ranked), "best first, ties by image index"
            assert [e.rank for e in entries] == list(range(1, len(entries) + 1))


def test_merge_is_a_full_sort_in_bounded_memory_whatever_the_batches():
    generator = torch.Generator().manual_seed(0)
    channels, k, images = 5, 4, 37
    # Few distinct values: many exact ties, as dead channels of random weights give.
    scores = torch.randint(0, 4, (channels, images), generator=generator).float()
    positions = torch.randint(0, 49, (channels, images), generator=generator)
    expected = [sorted(range(images), key=lambda i: (-scores[c, i].item(), i))[:k] for c in range(channels)]
    for chunk in (1, 5, 37):
        for reverse in (False, True):
            best = empty_topk(channels, k)
            starts = list(range(0, images, chunk))
            for start in reversed(starts) if reverse else starts:
                ids = torch.arange(start, min(start + chunk, images))
                best = merge_topk(best, scores[:, ids], ids, positions[:, ids])
                assert best.scores.shape == best.images.shape == best.positions.shape == (channels, k)
            assert best.images.tolist() == expected
            assert torch.equal(best.positions, positions.gather(1, best.images))
    few = merge_topk(empty_topk(channels, k), scores[:, :2], torch.arange(2), positions[:, :2])
    assert (few.images[:, 2:] == -1).all() and torch.isinf(few.scores[:, 2:]).all()  # unused slots


def test_walk_is_recursive_relative_and_names_the_unreadable(index, folder):
    assert index.images == sorted(READABLE + list(UNREADABLE))  # no notes.txt, no hidden files
    assert index.meta["indexed"] == len(READABLE)
    reasons = {u["path"]: u["reason"] for u in index.unreadable}
    assert set(reasons) == set(UNREADABLE)
    assert all(reasons[name].startswith(why) for name, why in UNREADABLE.items())
    text = json.dumps(index.meta)
    assert str(folder) not in text and str(folder.resolve()) not in text  # nothing absolute
    assert all(not name.startswith("/") and ".." not in name.split("/") for name in index.images)


def test_meta_records_what_it_was_built_with(index, resnet18):
    meta = index.meta
    assert (meta["arch"], meta["weights"], meta["top_k"]) == ("resnet18", "random", 9)
    assert meta["weights_sha256"] == weights_sha256(resnet18) and meta["weights_hash_covers"] == "parameters"
    t = resnet18.meta.transforms
    assert meta["preprocessing"]["resize_size"] == t.resize_size and meta["preprocessing"]["crop_size"] == [224]
    assert meta["preprocessing"]["mean"] == list(t.mean) and meta["preprocessing"]["interpolation"] == "bilinear"
    assert [(s["name"], s["height"], s["channels"]) for s in meta["stages"]] == [
        ("C1", 56, 64), ("C2", 56, 64), ("C3", 28, 128), ("C4", 14, 256), ("C5", 7, 512),
    ]  # fmt: skip
    assert index.mismatch(resnet18) is None
    other = copy.deepcopy(resnet18)
    with torch.no_grad():
        other.fc.bias[0] += 1
    assert "other resnet18 weights" in index.mismatch(other)
    other.meta = dataclasses.replace(other.meta, arch="resnet34")
    assert "built with resnet18, the model is resnet34" in index.mismatch(other)


@pytest.mark.slow
def test_weights_hash_is_stable_and_means_the_weights(resnet18, tmp_path):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # BN calibration's last bits change with threads: the hash must not
        again = load_model("resnet18", "random", "cpu")
    finally:
        torch.set_num_threads(threads)
    assert weights_sha256(again) == weights_sha256(resnet18)
    path = tmp_path / "w.pth"
    torch.save(resnet18.state_dict(), path)
    from_file = load_model("resnet18", str(path), "cpu")
    plain = build_model("resnet18")
    plain.load_state_dict(resnet18.state_dict())
    assert weights_sha256(from_file) == weights_sha256(plain)  # whole state dict, any layout
    with torch.no_grad():
        plain.layer3[0].bn1.running_var[0] += 1e-3
    assert weights_sha256(plain) != weights_sha256(from_file)


def test_receptive_field_geometry_matches_the_architecture_table():
    for arch in ("resnet18", "resnet50"):
        with torch.device("meta"):
            model = build_model(arch)
        fields = stage_geometry(model)
        table = {row["stage"]: row["receptive_field"] for row in architecture_table(model)}
        for info in model.stages:
            assert fields[info.name].size == table[info.name] and fields[info.name].jump == info.stride


def test_c1_boxes_by_hand(resnet18):
    c1 = stage_geometry(resnet18)["C1"]  # 7x7/2 pad 3, then 3x3/2 pad 1: 11 px, every 4 px, from 0
    assert c1.box(0, 0, 224) == (0, 0, 6, 6)  # pixels -5..5, clipped
    assert c1.box(10, 20, 224) == (75, 35, 86, 46)  # centre (80, 40), +-5
    assert c1.box(55, 55, 224) == (215, 215, 224, 224)


def _gradient_boxes(targets: list[tuple[str, int, int]]) -> list[tuple[int, int, int, int]]:
    """The bounding box of the input pixels that receive gradient from each (stage, row, col).

    ResNet-18 in float64 with positive conv weights (1 / fan-in) and identity BN keeps every ReLU
    open; the max pool becomes an average pool of the same geometry, which passes gradient to all
    of its window instead of one pixel. Float64: a C5 corner path multiplies ~17 factors of 1/576.
    """
    model = build_model("resnet18").double().eval()
    model.maxpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
            elif isinstance(module, nn.BatchNorm2d):
                (
                    module.weight.fill_(1.0),
                    module.bias.zero_(),
                    module.running_mean.zero_(),
                    module.running_var.fill_(1.0),
                )
    model.requires_grad_(False)
    x = torch.ones(len(targets), 3, 224, 224, dtype=torch.float64, requires_grad=True)
    depth = {info.name: level for level, info in enumerate(model.stages)}
    # Run each image only as deep as its target: (level, images still running, their activations).
    active, h, total = list(range(len(targets))), model.forward_stem(x), 0
    for level, info in enumerate(model.stages):
        if level:
            h = model.get_submodule(info.module)(h)
        for j, i in enumerate(active):
            stage, row, col = targets[i]
            if depth[stage] == level:
                total = total + h[j, 0, row, col]
        keep = [j for j, i in enumerate(active) if depth[targets[i][0]] > level]
        active, h = [active[j] for j in keep], h[keep]
    total.backward()
    boxes = []
    for i in range(len(targets)):
        touched = x.grad[i].abs().sum(0) > 0  # (H, W)
        rows, cols = touched.any(1).nonzero().flatten(), touched.any(0).nonzero().flatten()
        boxes.append((int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1))
    return boxes


@pytest.mark.slow
def test_patch_boxes_equal_the_pixels_with_gradient(resnet18):
    targets = [
        ("C1", 0, 0), ("C1", 30, 7), ("C1", 55, 55), ("C2", 0, 55), ("C2", 28, 28), ("C3", 27, 0),
        ("C3", 13, 14), ("C4", 0, 13), ("C4", 7, 7), ("C5", 6, 0),
    ]  # fmt: skip
    fields = stage_geometry(resnet18)
    computed = [fields[stage].box(row, col, 224) for stage, row, col in targets]
    assert computed == _gradient_boxes(targets)


def test_stored_patches_are_the_crop_inside_the_box(index, resnet18, folder):
    for stage, channel in (("C1", 3), ("C2", 10), ("C3", 5), ("C5", 0)):
        for e in index.top(stage, channel)[:2]:
            crop = crop_image(
                resnet18.meta.transforms, preprocess(resnet18.meta.transforms, load_image(folder / e.image))
            )
            cut = crop.crop(e.box)
            assert max(e.patch.size) <= 64
            if max(cut.size) <= 64:  # C1, C2: stored pixel for pixel
                assert np.array_equal(np.asarray(e.patch), np.asarray(cut))
            else:
                cut.thumbnail((64, 64))
                assert e.patch.size == cut.size
                assert np.abs(np.asarray(e.patch, dtype=int) - np.asarray(cut, dtype=int)).mean() < 3


def test_save_and_load_round_trip(index, tmp_path):
    path = index.save(tmp_path / "photos.npz")
    assert path.name == "photos.npz" and not list(tmp_path.glob(".*tmp*"))
    loaded = load_index(path)
    assert loaded.meta == index.meta
    for stage, channel in (("C1", 0), ("C3", 100), ("C5", 511)):
        a, b = index.top(stage, channel), loaded.top(stage, channel)
        assert [x.to_json() for x in a] == [y.to_json() for y in b]
        assert all(np.array_equal(np.asarray(x.patch), np.asarray(y.patch)) for x, y in zip(a, b))
    with pytest.raises(ValueError, match="unknown stage 'C9'"):
        loaded.top("C9", 0)
    with pytest.raises(ValueError, match="channel 512 is out of range for C5"):
        loaded.top("C5", 512)


def test_corrupt_or_foreign_files_are_rejected_clearly(index, tmp_path):
    good = index.save(tmp_path / "good.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(2000))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:5000])
    pickled = tmp_path / "pickled.npz"
    torch.save({"meta": "x"}, pickled)  # a zip with a pickle inside: must never be unpickled
    raw_meta = tmp_path / "raw_meta.npz"
    with zipfile.ZipFile(raw_meta, "w") as archive:
        archive.writestr("meta.npy", b"{}")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))

    def edit(name, change):
        return rewrite_index(good, tmp_path / f"{name}.npz", change)

    cases = {
        junk: "not a numpy .npz file",
        truncated: "not a numpy .npz file",
        pickled: "has no meta entry",  # read as a zip of raw members, never unpickled
        raw_meta: "entry 'meta' is not a numpy array",
        foreign: "has no meta entry",
        edit("version", lambda a, m: m.update(version=99)): "version 99",
        edit("climbs", lambda a, m: m["images"].__setitem__(0, "../../etc/passwd")): "not a relative path",
        edit("absolute", lambda a, m: m["images"].__setitem__(0, "/etc/passwd")): "not a relative path",
        edit("index", lambda a, m: a["C2.image"].__setitem__((0, 0), 99)): "outside its list",
        edit("shape", lambda a, m: a.__setitem__("C3.score", a["C3.score"][:5])): "C3.score should be float32",
        edit("box", lambda a, m: a["C4.box"].__setitem__((0, 0, 2), 999)): "outside the 224x224 crop",
        edit("png", lambda a, m: a["patch_png"].__setitem__(slice(0, 8), 0)): "not a PNG",
    }
    for path, message in cases.items():
        with pytest.raises(IndexFileError) as info:
            load_index(path)
        assert message in str(info.value) and path.name in str(info.value), path.name
    with pytest.raises(IndexFileError, match="does not exist"):
        load_index(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(good)


def _alive_children() -> list[int]:
    me, alive = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_a_raising_progress_callback_stops_the_build_and_its_workers(resnet18, folder):
    calls = []

    def cancel(fraction, status):
        calls.append((fraction, str(status)))
        if status.done >= 2:
            raise KeyboardInterrupt("cancelled")

    before = set(_alive_children())
    with pytest.raises(KeyboardInterrupt):
        build_index(resnet18, folder, top_k=3, batch_size=2, workers=1, progress=cancel)
    assert calls[0][0] == 0.0 and "scoring 0/9 images" in calls[0][1]
    assert set(_alive_children()) <= before  # the DataLoader worker is gone


@pytest.mark.slow
def test_cli_builds_the_top_k_in_bounded_memory_and_names_unreadable_files(
    folder, reference, tmp_path, capsys, monkeypatch
):
    widths = []
    real_merge = local.merge_topk

    def recording_merge(best, scores, images, positions):
        merged = real_merge(best, scores, images, positions)
        widths.append((best.scores.shape[1], scores.shape[1], merged.scores.shape[1]))
        return merged

    monkeypatch.setattr(local, "merge_topk", recording_merge)
    out = tmp_path / "cli.npz"
    argv = ["index", str(folder), "--arch", "resnet18", "--weights", "random", "--out", str(out), "--top-k", "2"]
    assert main(argv + ["--workers", "0", "--batch-size", "3", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"indexed 6 of 9 images in {folder} (3 unreadable) with resnet18 random weights")
    assert f"-> {out}" in lines[0]
    assert len(lines) == 1 + len(UNREADABLE)
    for name, why in UNREADABLE.items():
        assert any(line.startswith(f"  unreadable: {name}: {why}") for line in lines[1:]), name
    # The builder never held more than k per channel, nor more than k + batch while merging.
    assert widths and all(held == 2 and batch <= 3 and merged == 2 for held, batch, merged in widths)
    small = load_index(out)
    for stage in STAGES:
        scores = reference[stage][0]  # (images, C)
        for channel in range(0, small.channels(stage), 7):
            expected = sorted(scores[:, channel].tolist(), reverse=True)[:2]
            assert [e.score for e in small.top(stage, channel)] == pytest.approx(expected, **TOL)


@pytest.mark.parametrize(
    "args, message",
    [
        (["/no/such/folder"], "image folder '/no/such/folder' does not exist"),
        (["{folder}/astronaut.png"], "is not a folder"),
        (["{folder}", "--out", "/no/such/dir/x.npz"], "folder '/no/such/dir' does not exist"),
        (["{empty}"], "nothing to index in '{empty}': no image files"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(folder, tmp_path, capsys, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(folder=folder, empty=empty) for a in args]
    argv = ["index", *args, "--arch", "resnet18", "--weights", "random", "--quiet"]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "x.npz")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message.format(empty=empty) in err
    assert not (tmp_path / "x.npz").exists()


def test_cli_engine_ray_without_ray_says_how_to_install(folder, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    argv = ["index", str(folder), "--engine", "ray", "--out", str(tmp_path / "x.npz"), "--weights", "random"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -r requirements-scale.txt" in err


def test_bad_arguments_are_named(resnet18, folder):
    with pytest.raises(ValueError, match="unknown engine 'spark'; choose one of local, ray"):
        build_index(resnet18, folder, engine="spark")
    with pytest.raises(ValueError, match="top_k must be an integer >= 1, got 0"):
        build_index(resnet18, folder, top_k=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_index(resnet18, folder / "nowhere")
