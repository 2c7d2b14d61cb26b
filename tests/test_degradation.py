"""degradation_experiment on tiny data: the documented structure, progress, cancel, schedule, seeds."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_viz import DegradationResult, build_cifar_model, degradation_experiment
from resnet_viz.degradation.chart import DEGRADATION_LABELS, degradation_chart, gradient_chart
from resnet_viz.degradation.data import TrainingData
from resnet_viz.model.runtime import exact_float32

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(depths=(8, 14), steps=12, batch_size=8, log_every=3, eval_every=6, eval_size=16, final_train_size=16)
# TINY's networks' parameters, counted by hand for 4 classes: a 3x3 stem (3 -> 16, no bias) with its
# BN (432 + 32); per block two 3x3 convs and two BNs (16 wide: 2 x 2,304 + 64; the first 32-wide
# block 4,608 + 9,216 + 128, the others 2 x 9,216 + 128; 64-wide: 18,432 + 36,864 + 256, then
# 2 x 36,864 + 256); option A adds nothing; the head 64 x 4 + 4.
TINY_PARAMETERS = {8: 464 + 4_672 + 13_952 + 55_552 + 260, 14: 464 + 2 * 4_672 + 13_952 + 18_560 + 55_552 + 73_984 + 260}


def tiny_data(n: int = 64, size: int = 8) -> TrainingData:
    """Colour-coded classes in noise: learnable in a few steps, made in microseconds."""
    g = torch.Generator().manual_seed(0)

    def make(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(count) % 4
        colours = torch.tensor([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]], dtype=torch.float32)
        images = colours[labels][:, :, None, None] + 30 * torch.randn(count, 3, size, size, generator=g)
        return images.clamp(0, 255).to(torch.uint8), labels

    train, test = make(n), make(n // 2)
    return TrainingData("tiny", ("r", "g", "b", "y"), *train, *test, (0.5,) * 3, (0.25,) * 3, 1, "test data")


@pytest.fixture(scope="module")
def data() -> TrainingData:
    return tiny_data()


def test_result_has_the_documented_structure(data):
    result = degradation_experiment(**TINY, device="cpu", training_data=data)
    assert result.finished and result.step == 12 and result.device == "cpu"
    assert [n.name for n in result.networks] == ["plain-8", "plain-14", "ResNet-8", "ResNet-14"]
    for net in result.networks:
        assert net.residual == net.name.startswith("ResNet")
        assert net.shortcut == ("A" if net.residual else None)
        assert net.parameters == TINY_PARAMETERS[net.depth]
        assert sum(p.numel() for p in build_cifar_model(net.depth, num_classes=4).parameters()) == net.parameters
        assert net.steps == [3, 6, 9, 12]
        assert len(net.train_loss) == len(net.train_error) == len(net.lr) == 4
        assert net.test_steps == [6, 12]  # every eval_every steps, and the whole test split at the end
        assert all(0 <= e <= 1 for e in net.train_error + net.test_error)
        assert net.final_test_error == net.test_error[-1] and 0 <= net.final_train_error <= 1
        assert net.seconds > 0
        assert set(net.ratios) == ({"C2", "C3", "C4"} if net.residual else set())
        assert all(len(v) == 2 and all(r > 0 for r in v) for v in net.ratios.values())
    payload = json.loads(json.dumps(result.to_json()))
    assert payload["total_steps"] == 12 and payload["data"]["name"] == "tiny"
    assert payload["config"]["depths"] == [8, 14]
    again = DegradationResult.from_json(payload)
    assert again.networks == result.networks and again.config == result.config


def test_the_tiny_task_is_learned(data):
    # Not the degradation effect (too short to show it): only that training trains.
    result = degradation_experiment(depths=(8,), steps=30, batch_size=16, log_every=10, eval_every=10,
                                    eval_size=32, final_train_size=64, lr=0.05, device="cpu", training_data=data)
    for net in result.networks:
        assert net.final_train_error < 0.3, net
        assert net.train_loss[-1] < net.train_loss[0]


def test_progress_gets_growing_partial_copies(data):
    calls = []
    degradation_experiment(**TINY, device="cpu", training_data=data,
                           progress=lambda fraction, partial: calls.append((fraction, partial)))
    fractions = [f for f, _ in calls]
    # One call per round of steps, one after each of the first three networks' final evaluation,
    # one with the finished result.
    assert len(calls) == 12 + 3 + 1 and fractions == sorted(fractions) and fractions[-4:] == [1.0] * 4
    assert [p.points for _, p in calls] == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4]
    assert [p.finished for _, p in calls] == [False] * 15 + [True]
    assert [n.final_train_error is not None for n in calls[13][1].networks] == [True, True, False, False]
    first_point = calls[2][1]
    assert all(len(n.train_error) == 1 for n in first_point.networks)  # a copy: later points did not land in it
    assert first_point.networks[0].final_train_error is None


def test_progress_raising_cancels_and_leaves_the_global_rng_alone(data):
    class Stop(Exception):
        pass

    def progress(fraction, partial):
        if partial.step == 4:
            raise Stop

    before = torch.get_rng_state()
    with pytest.raises(Stop):
        degradation_experiment(**TINY, device="cpu", training_data=data, progress=progress)
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.slow
def test_same_seed_same_curves_other_seed_other_curves(data):
    a = degradation_experiment(**TINY, seed=3, device="cpu", training_data=data)
    b = degradation_experiment(**TINY, seed=3, device="cpu", training_data=data)
    c = degradation_experiment(**TINY, seed=4, device="cpu", training_data=data)
    assert [n.train_loss for n in a.networks] == [n.train_loss for n in b.networks]
    assert [n.train_loss for n in a.networks] != [n.train_loss for n in c.networks]


def test_plain_and_residual_twins_start_from_the_same_weights():
    # Option A adds no parameters, so plain-d and ResNet-d can start identical: the comparison
    # is then about the shortcuts alone.
    from resnet_viz.degradation.experiment import DegradationConfig, _build

    cfg = DegradationConfig(depths=(8,), seed=5)
    plain, resnet = _build(cfg, 8, False, 4, torch.device("cpu")), _build(cfg, 8, True, 4, torch.device("cpu"))
    for (k, p), (k2, r) in zip(plain.state_dict().items(), resnet.state_dict().items()):
        assert k == k2 and torch.equal(p, r)


def test_warm_up_and_milestones_in_the_lr_curve(data):
    result = degradation_experiment(
        depths=(8, 14), steps=20, batch_size=8, log_every=2, eval_every=10, eval_size=8, final_train_size=8,
        device="cpu", training_data=data, warmup_depth=14, warmup_until_error=0.0, warmup_max_steps=6,
        milestones=(0.5, 0.75), lr=0.1,
    )
    shallow, deep = result.network("plain-8"), result.network("plain-14")
    assert deep.steps[:5] == [2, 4, 6, 8, 10]
    # The deep net warms up at 0.01 until step 6 (error never below 0), then the schedule runs.
    assert deep.lr == pytest.approx([0.01, 0.01, 0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.001])
    assert shallow.lr == pytest.approx([0.1] * 5 + [0.01] * 2 + [0.001] * 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(depths=(20, 21)), "depth 21 is not 6n"),
        (dict(depths=()), "not empty"),
        (dict(data="mnist"), "'mnist'"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(log_every=4, eval_every=6), "multiple of log_every"),
        (dict(lr=-1.0), "lr must be a positive"),
        (dict(milestones=(0.5, 2)), "fractions"),
        (dict(shortcut="C"), "'C'"),
    ],
)
def test_bad_config_names_the_bad_value(bad, match, data):
    kwargs = {**TINY, **bad}
    with pytest.raises(ValueError, match=match):
        degradation_experiment(**kwargs, device="cpu", training_data=data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_value_error(data):
    with pytest.raises(ValueError, match="CUDA is not available"):
        degradation_experiment(**TINY, device="cuda", training_data=data)


def assert_same_training(a: DegradationResult, b: DegradationResult, rtol: float = 1e-4) -> None:
    """Two runs trained the same networks on the same batches: only float rounding tells them apart."""
    assert [n.name for n in a.networks] == [n.name for n in b.networks]
    for x, y in zip(a.networks, b.networks):
        assert (x.parameters, x.steps, x.lr) == (y.parameters, y.steps, y.lr), x.name
        assert x.train_loss == pytest.approx(y.train_loss, rel=rtol), x.name


@pytest.mark.slow
def test_another_summation_order_changes_only_rounding_and_another_seed_is_told_apart(data):
    # What the CUDA test below relies on, checked on the CPU: two thread counts sum in another
    # order (their losses differed by 2e-7 relative after 12 steps), another seed is another run.
    one = degradation_experiment(**TINY, seed=3, device="cpu", training_data=data)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        two = degradation_experiment(**TINY, seed=3, device="cpu", training_data=data)
    finally:
        torch.set_num_threads(threads)
    assert_same_training(one, two)
    with pytest.raises(AssertionError):
        assert_same_training(one, degradation_experiment(**TINY, seed=4, device="cpu", training_data=data))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_trains_as_the_cpu_does(data):
    # The same seed gives the same weights and batches on every device (the augmentation draws from
    # a CPU generator), so in float32 without TF32 the curves differ by rounding only.
    on_cpu = degradation_experiment(**TINY, device="cpu", training_data=data)
    torch.cuda.reset_peak_memory_stats()
    with exact_float32():
        on_cuda = degradation_experiment(**TINY, device="cuda", training_data=data)
    assert on_cuda.device.startswith("cuda") and on_cuda.finished
    assert torch.cuda.max_memory_allocated() > 0  # the networks and their batches were there
    assert_same_training(on_cuda, on_cpu, rtol=1e-3)


def test_chart_draws_plain_dashed_and_residual_solid(data):
    result = degradation_experiment(**TINY, device="cpu", training_data=data)
    fig = degradation_chart(result, labels={"plain": "플레인-{depth}"}, show_test=True)
    lines = {line.get_gid(): line for line in fig.axes[0].get_lines() if line.get_gid()}
    assert lines["train:plain-8"].get_linestyle() == "--" and lines["train:ResNet-8"].get_linestyle() == "-"
    assert lines["train:plain-8"].get_color() == lines["train:ResNet-8"].get_color()  # colour = depth
    assert lines["train:plain-8"].get_color() != lines["train:plain-14"].get_color()
    drops = [line for line in fig.axes[0].get_lines() if line.get_gid() == "lr-drop"]
    # The default milestones, 0.6 and 0.85 of the 12 steps.
    assert "test:ResNet-14" in lines and [d.get_xdata()[0] for d in drops] == pytest.approx([7.2, 10.2])
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "플레인-8" in legend and "ResNet-14" in legend
    # Smoothing: the drawn value is the mean of the last 4 logged windows.
    raw = result.network("plain-8").train_error
    assert lines["train:plain-8"].get_ydata()[-1] == pytest.approx(100 * sum(raw[-4:]) / 4)
    degradation_chart(result.to_json())  # the JSON draws too (recorded curves)
    with pytest.raises(ValueError, match="'colour'"):
        degradation_chart(result, labels={"colour": "x"})
    assert set(DEGRADATION_LABELS) >= {"title", "plain", "resnet"}


def test_layer_gradients_are_the_first_batchs_before_any_update(data):
    # Recomputed here from the documented seeding (weights from seed * 1000 + depth, batches from
    # a generator seeded with the seed): the first batch's |dL/dW| for every depth layer.
    import torch.nn.functional as F

    result = degradation_experiment(**TINY, seed=7, device="cpu", training_data=data)
    g = torch.Generator().manual_seed(7)
    x, y = data.train_batch(torch.randperm(data.train_labels.numel(), generator=g)[:8], g)
    for net in result.networks:
        torch.manual_seed(7 * 1000 + net.depth)
        model = build_cifar_model(net.depth, residual=net.residual, num_classes=4)
        F.cross_entropy(model(x), y).backward()
        convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        expected = [float(w.grad.norm()) for w in [*convs, model.fc.weight]]
        assert len(net.layer_gradients) == net.depth  # stem, 2 convs per block, fc: 6n + 2
        assert net.layer_gradients == pytest.approx(expected, rel=1e-5)
    assert DegradationResult.from_json(result.to_json()).networks[0].layer_gradients == result.networks[0].layer_gradients


def test_the_charts_title_says_recorded_or_live_and_an_empty_chart_says_why(data):
    result = degradation_experiment(**TINY, device="cpu", training_data=data)
    assert degradation_chart(result, source="recorded").axes[0].get_title().startswith("Recorded run")
    assert degradation_chart(result, source="live").axes[0].get_title().startswith("Live run")
    assert degradation_chart(result).axes[0].get_title() == DEGRADATION_LABELS["title"]
    with pytest.raises(ValueError, match="'replay'"):
        degradation_chart(result, source="replay")
    empty = DegradationResult(config=result.config, data={}, device="", networks=[])
    fig = degradation_chart(empty, source="live", message="Starting: loading torch and the data...")
    texts = [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "message"]
    assert texts == ["Starting: loading torch and the data..."]
    assert [t.get_text() for t in degradation_chart(empty).axes[0].texts if t.get_gid() == "message"] == [
        DEGRADATION_LABELS["waiting"]]
    assert not [t for t in degradation_chart(result).axes[0].texts if t.get_gid() == "message"]


def test_the_gradient_chart_draws_every_layer_with_its_first_to_last_ratio(data):
    result = degradation_experiment(**TINY, device="cpu", training_data=data)
    fig = gradient_chart(result, source="live")
    ax = fig.axes[0]
    lines = {line.get_gid(): line for line in ax.get_lines()}
    plain = result.network("plain-14")
    assert list(lines["grad:plain-14"].get_xdata()) == list(range(1, 15))
    assert list(lines["grad:plain-14"].get_ydata()) == pytest.approx(plain.layer_gradients)
    assert lines["grad:plain-14"].get_linestyle() == "--" and lines["grad:ResNet-14"].get_linestyle() == "-"
    assert ax.get_yscale() == "log" and ax.get_title().startswith("Live run")
    ratio = plain.layer_gradients[0] / plain.layer_gradients[-1]
    shown = f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.1f}"
    assert f"plain-14: first / last layer {shown}x" in [t.get_text() for t in fig.legends[0].get_texts()]
    # A file recorded before the gradients were: nothing drawn, and the chart says where they come from.
    old = result.to_json()
    for net in old["networks"]:
        del net["layer_gradients"]
    fig = gradient_chart(old)
    assert not fig.axes[0].get_lines() and DEGRADATION_LABELS["grad_waiting"] in [t.get_text() for t in fig.axes[0].texts]
