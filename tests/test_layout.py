"""The memory layout is the model's own, chosen at load time: asked for, or measured (with a fake
clock here, so the choice is deterministic); analyze() reports it; the CLI and registry pass it."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
import torchvision

import resnet_viz
from resnet_viz.cli.main import main
from resnet_viz.model import layout as layout_module
from resnet_viz.model.layout import GPU_TIMING_BATCH, choose_layout, forward_timer, timing_batch
from resnet_viz.model.runtime import as_model_input, image_input, private_copy
from resnet_viz.serve.registry import ModelRegistry

from .support import TEST_LAYOUT, random_model


def _is_channels_last(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _nchw_copy(model):
    """A fresh NCHW model, as load_model holds it before choosing (no build, no calibration)."""
    return copy.deepcopy(model).to(memory_format=torch.contiguous_format)


def _fake_timer(nchw_seconds, channels_last_seconds):
    """Each layout's forwards 'take' the given seconds in turn; records what it was asked to time."""
    queues = {False: list(nchw_seconds), True: list(channels_last_seconds)}
    calls = []

    def timer(model, batch):
        layout = _is_channels_last(batch)
        assert _is_channels_last(model.conv1.weight) == layout, "input and weights must share a layout"
        calls.append(layout)
        queue = queues[layout]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return timer, calls


@pytest.mark.parametrize("faster", ["nchw", "channels-last"])
def test_auto_keeps_the_faster_layout(resnet18, faster):
    seconds = {"nchw": 0.020, "channels-last": 0.020, faster: 0.010}
    timer, calls = _fake_timer([seconds["nchw"]], [seconds["channels-last"]])
    model, choice = choose_layout(_nchw_copy(resnet18), "auto", timer=timer, warmup=1, runs=3)
    assert choice.layout == faster and choice.chosen_by == "measured"
    assert choice.forward_ms == {name: 1000 * s for name, s in seconds.items()}
    assert _is_channels_last(model.conv1.weight) == (faster == "channels-last")
    # The layouts in turn: 1 warm-up round, then 2 timed rounds, which one layout won throughout.
    assert calls == [False, True] * 3


def test_the_median_decides_and_warm_up_is_not_counted(resnet18):
    # NCHW: a 5 s first forward (kernel building) and one 0.5 s spike; its median is still the lower.
    timer, calls = _fake_timer([5.0, 0.010, 0.500, 0.011], [0.100, 0.012, 0.012, 0.013])
    _, choice = choose_layout(_nchw_copy(resnet18), "auto", timer=timer, warmup=1, runs=3)
    assert len(calls) == 2 * 4  # two timed rounds disagreed: a third decided
    assert choice.layout == "nchw"
    assert choice.forward_ms == pytest.approx({"nchw": 11.0, "channels-last": 12.0})


def test_a_decision_is_reused_for_the_same_model_in_the_process(resnet18, monkeypatch):
    monkeypatch.setattr(layout_module, "_decisions", {})
    timer, calls = _fake_timer([0.010], [0.020])
    monkeypatch.setattr(layout_module, "forward_timer", lambda device: timer)
    key = ("resnet18", "cpu", "fp32")
    _, first = choose_layout(_nchw_copy(resnet18), key=key)
    model, again = choose_layout(_nchw_copy(resnet18), key=key)
    assert (first.chosen_by, again.chosen_by) == ("measured", "measured earlier")
    assert first.layout == again.layout == "nchw" and again.forward_ms == first.forward_ms
    assert len(calls) == 2 * (layout_module.WARMUP + layout_module.DECISIVE_RUNS)  # measured once
    _, other = choose_layout(_nchw_copy(resnet18), key=("resnet18", "cpu", "bf16"))
    assert other.chosen_by == "measured"


def test_a_gpu_times_the_layouts_at_a_batch_above_its_launch_noise(resnet18):
    # On a GPU a batch-1 forward is mostly kernel launches, the same in both layouts: the choice
    # is timed at a batch larger than any the app runs (8), on a CPU at batch 1, as requests come.
    assert timing_batch(torch.device("cpu")) == 1
    assert timing_batch(torch.device("cuda")) == timing_batch(torch.device("cuda", 1)) == GPU_TIMING_BATCH > 8
    seen = []

    def timer(model, batch):
        seen.append(tuple(batch.shape))
        return 0.010 if _is_channels_last(batch) else 0.020

    _, choice = choose_layout(_nchw_copy(resnet18), "auto", timer=timer)
    assert set(seen) == {(1, 3, 224, 224)} and choice.batch == 1
    seen.clear()
    _, choice = choose_layout(_nchw_copy(resnet18), "auto", timer=timer, batch=GPU_TIMING_BATCH)
    assert set(seen) == {(GPU_TIMING_BATCH, 3, 224, 224)} and choice.batch == GPU_TIMING_BATCH
    assert choice.layout == "channels-last"


def test_load_model_records_the_choice(monkeypatch):
    timer, _ = _fake_timer([0.030], [0.010])
    model = resnet_viz.load_model("resnet18", "random", "cpu", layout_timer=timer)
    runtime = model.meta.runtime
    assert (runtime.device, runtime.layout, runtime.dtype) == ("cpu", "channels-last", "float32")
    assert runtime.chosen_by == "measured"
    assert runtime.forward_ms == {"nchw": 30.0, "channels-last": 10.0} and runtime.timed_batch == 1
    assert runtime.threads == torch.get_num_threads()
    assert _is_channels_last(model.conv1.weight)
    # The same weights as the shared test model, whose layout was asked for.
    shared = random_model("resnet18")
    assert shared.meta.runtime.chosen_by == "asked" and shared.meta.runtime.forward_ms == {}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shared.state_dict().values()))


@pytest.fixture(scope="module")
def nchw_resnet18():
    return resnet_viz.load_model("resnet18", "random", "cpu", layout="nchw")


def _spy_load_model(monkeypatch, module, model, fail_for=()):
    """Replace ``module.load_model``: records each call's arguments, raises WeightsError for the
    weights in ``fail_for`` (as when ImageNet's cannot be had), else returns ``model``."""
    calls = []

    def load_model(arch, weights, device, **kwargs):
        calls.append((arch, weights, kwargs))
        if weights in fail_for:
            raise resnet_viz.WeightsError(f"{weights} weights for {arch} are not cached")
        return model

    monkeypatch.setattr(module, "load_model", load_model)
    return calls


@pytest.mark.slow
def test_both_layouts_compute_the_same_as_torchvision(examples, nchw_resnet18):
    nchw = nchw_resnet18
    cl = random_model("resnet18")
    assert cl.meta.runtime.layout == TEST_LAYOUT == "channels-last"
    assert nchw.meta.runtime.layout == "nchw" and nchw.conv1.weight.is_contiguous()
    x_nchw, x_cl = image_input(nchw, examples[0]), image_input(cl, examples[0])
    assert x_nchw.is_contiguous() and _is_channels_last(x_cl)
    reference = torchvision.models.resnet18().eval()
    reference.load_state_dict(nchw.state_dict())
    with torch.inference_mode():
        expected = reference(x_nchw.contiguous())
        torch.testing.assert_close(nchw(x_nchw), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(cl(x_cl), expected, rtol=1e-4, atol=1e-4)
    # analyze() says which layout ran, and the two layouts agree on everything else.
    a, b = resnet_viz.analyze(nchw, examples[0]), resnet_viz.analyze(cl, examples[0])
    threads = torch.get_num_threads()
    assert a["runtime"] == {"device": "cpu", "layout": "nchw", "threads": threads, "dtype": "float32"}
    assert b["runtime"] == {"device": "cpu", "layout": "channels-last", "threads": threads, "dtype": "float32"}
    assert [p["index"] for p in a["predictions"]] == [p["index"] for p in b["predictions"]]
    for x, y in zip(a["blocks"], b["blocks"]):
        assert x["ratio"] == pytest.approx(y["ratio"], rel=1e-4) and x["cosine"] == pytest.approx(y["cosine"], abs=1e-4)


def test_private_copy_keeps_the_layout(resnet18):
    twin = private_copy(resnet18)
    assert twin.meta.runtime is resnet18.meta.runtime
    assert _is_channels_last(as_model_input(twin, torch.zeros(1, 3, 224, 224)))


def test_a_model_without_a_runtime_record_runs_nchw():
    bare = resnet_viz.build_model("resnet18")
    assert as_model_input(bare, torch.zeros(1, 3, 32, 32)).is_contiguous()


def test_unknown_layout_is_rejected_naming_it(resnet18):
    for call in (
        lambda: resnet_viz.load_model("resnet18", "random", "cpu", layout="nhwc"),
        lambda: ModelRegistry("random", "cpu", layout="nhwc"),
        lambda: choose_layout(resnet18, "nhwc"),
    ):
        with pytest.raises(ValueError, match="unknown layout 'nhwc'; choose one of auto, nchw, channels-last"):
            call()


def test_cuda_timer_waits_for_the_device(monkeypatch):
    """Faked: on a GPU a forward only returns after queueing its kernels, so the timer must sync
    before starting the clock and again before stopping it."""
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(("sync", str(device))))
    timer = forward_timer(torch.device("cuda:0"))
    seconds = timer(lambda batch: events.append(("forward", tuple(batch.shape))), torch.zeros(1, 3, 8, 8))
    assert events == [("sync", "cuda:0"), ("forward", (1, 3, 8, 8)), ("sync", "cuda:0")] and seconds >= 0
    assert forward_timer(torch.device("cpu"))(lambda batch: events.append("cpu"), torch.zeros(1)) >= 0
    assert events[-1] == "cpu" and len(events) == 4


def test_measurement_runs_in_the_models_precision(resnet18, monkeypatch):
    """On CUDA with bf16/fp16 the layouts are timed under the same autocast inference uses
    (channels-last pays with tensor-core dtypes, not always in float32)."""
    entered = []

    class Recorder:
        def __init__(self, model):
            entered.append(model.meta.precision)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    model = _nchw_copy(resnet18)
    model.meta = dataclasses.replace(model.meta, precision="bf16")
    monkeypatch.setattr(layout_module, "autocast", Recorder)
    timer, _ = _fake_timer([0.010], [0.020])
    choose_layout(model, timer=timer)
    assert entered == ["bf16"]


def test_registry_passes_the_layout(monkeypatch, nchw_resnet18):
    from resnet_viz.serve import registry as registry_module

    calls = _spy_load_model(monkeypatch, registry_module, nchw_resnet18, fail_for=("imagenet",))
    assert ModelRegistry("random", "cpu", layout="nchw").get("resnet18").model is nchw_resnet18
    assert calls == [("resnet18", "random", {"precision": "fp32", "layout": "nchw"})]
    # ... also to the random weights that stand in when ImageNet's cannot be had.
    calls.clear()
    fallback = ModelRegistry("imagenet", "cpu", layout="channels-last").get("resnet18")
    assert fallback.fallback == "imagenet weights for resnet18 are not cached"
    assert [(w, kw["layout"]) for _, w, kw in calls] == [("imagenet", "channels-last"), ("random", "channels-last")]


def test_cli_layout_flag_and_runtime_line(tmp_path, examples, capsys, monkeypatch, nchw_resnet18):
    import resnet_viz.cli.analyze

    calls = _spy_load_model(monkeypatch, resnet_viz.cli.analyze, nchw_resnet18)
    out = tmp_path / "one.json"
    args = ["analyze", str(examples[0]), "--arch", "resnet18", "--weights", "random", "--top-k", "1"]
    assert main([*args, "--layout", "nchw", "--json", str(out)]) == 0
    assert calls == [("resnet18", "random", {"precision": "fp32", "layout": "nchw"})]
    threads = torch.get_num_threads()
    assert f"  runtime: cpu, nchw memory, {threads} threads, float32" in capsys.readouterr().out.splitlines()
    expected = {"device": "cpu", "layout": "nchw", "threads": threads, "dtype": "float32"}
    assert json.loads(out.read_text())["runtime"] == expected
    with pytest.raises(SystemExit) as info:
        main([*args, "--layout", "nhwc"])
    assert info.value.code == 2 and "invalid choice: 'nhwc'" in capsys.readouterr().err
