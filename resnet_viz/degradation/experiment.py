"""The degradation experiment: plain and residual networks trained side by side (He et al. 2016).

A deeper *plain* network reaches a higher training error than a shallower one (Fig. 1 and Fig. 6
of the paper: plain-56 above plain-20 on CIFAR-10), and shortcuts remove that (ResNet-56 at or
below ResNet-20). :func:`degradation_experiment` trains plain-d and ResNet-d for every depth d on
the same batches, interleaved one step of each network in turn, so all curves grow together and a
caller can draw them live from the ``progress`` callback.

What is measured at each logged step (every ``log_every`` steps):

- ``train_loss``, ``train_error``: the mean cross-entropy and top-1 error of the network on the
  training mini-batches it trained on since the previous logged step (train mode, augmented
  batches, the weights as they were at each step): the running training error of the paper's
  curves, free to compute, noisy over a short window;
- ``test_error`` (every ``eval_every`` steps, at ``test_steps``): top-1 error in eval mode on a
  fixed subset of ``eval_size`` test images.

At the end each network is evaluated once more in eval mode, without augmentation: on the whole
test split (``final_test_error``) and on a fixed subset of ``final_train_size`` training images
(``final_train_error``, the number the acceptance check in the README compares).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..model.weights import WeightsError, resolve_device
from .data import DATASETS, TrainingData, load_data
from .networks import CifarResNet, build_cifar_model

__all__ = ["DegradationConfig", "DegradationResult", "NetworkCurve", "Progress", "degradation_experiment"]

log = logging.getLogger(__name__)

_VARIANTS = (False, True)  # plain, then residual: the twins trained for every depth


@dataclass(frozen=True)
class DegradationConfig:
    """Everything that defines a run; the defaults are the app's live run on a 2-core CPU."""

    # Depths 20 and 32, 1,500 steps: every plain net leaves chance and the deeper one ends higher,
    # the paper's Fig. 6 in shape (see degradation/presets.py and the README's acceptance table).
    # Chosen on seeds 0-2 (bench/degradation_acceptance.py), confirmed once on fresh seeds 30-34
    # (plain-32 2.1-55.8%, plain-20 0.2-0.5%, ResNet-32 within 0.15 points of ResNet-20; README).
    # On seeds 0-2: plain-20 0.4-0.9%, plain-32 2.1-12.1%
    # (it leaves chance at step 290-490, plain-20 at 95-185), ResNet-32 within 0.3 points of
    # ResNet-20 (0.0-0.1%). At 900 steps plain-32 only just left chance (47.5% on seed 0); plain-44
    # never did (87.8-89.6%), and plain-26 ended only 0.6 points above plain-20 on seed 0. The
    # earlier default (20 and 56, 900 steps) is the "deeper" preset's kind of run: plain-56 barely
    # learns these gratings (75-90% at the end of the deeper preset's 1,800 steps, six fresh seeds).
    depths: tuple[int, ...] = (20, 32)  # each 6n + 2; plain and residual twin for each
    data: str = "offline"  # "offline" (generated gratings, 8x8) or "cifar10"
    steps: int = 1500  # SGD steps per network
    batch_size: int = 32
    seed: int = 0  # initialisation (plain-d and ResNet-d start from the same weights) and batch order
    shortcut: str = "A"  # "A": zero-padding, parameter-free (the paper's CIFAR choice); "B": projection
    # The paper: 0.1 at batch 128. At batch 32 on the 8x8 gratings, measured on seeds 0-2 (README):
    # 0.05 stops ResNet-56 from training at all, 0.025 (0.1 scaled linearly) leaves it 1-2 points
    # above ResNet-20 after 1,100 steps, 0.0125 about half a point (on the earlier, harder gratings).
    # Pass 0.1 with batch 128 for CIFAR-10. No lr makes plain-56 learn these gratings: at 0.001,
    # 0.004, 0.0125 and 0.05 (and 0.0125 at batch 128) its loss stays at ln 10 for 400 steps.
    lr: float = 0.0125
    momentum: float = 0.9
    weight_decay: float = 1e-4
    # lr x gamma at these fractions of steps (paper: 32k, 48k of 64k = 0.5, 0.75; later here, where the
    # whole run is under two epochs and most of the learning happens at the full lr)
    milestones: tuple[float, ...] = (0.6, 0.85)
    gamma: float = 0.1
    warmup_factor: float = 0.1  # nets at least warmup_depth deep start at lr x this (paper: 0.01 for ResNet-110)
    warmup_depth: int = 110
    warmup_until_error: float = 0.8  # ... until the running training error is below this
    warmup_max_steps: int = 400  # ... or this many steps have passed
    log_every: int = 5  # steps between logged points (one point for every network at once)
    eval_every: int = 50  # steps between test-error evaluations (a multiple of log_every)
    eval_size: int = 500  # test images in each test-error evaluation
    final_train_size: int = 2000  # training images in the final eval-mode training error
    track_ratios: bool = True  # |F(x)| / |x| per stage of the residual nets at each evaluation

    def __post_init__(self) -> None:
        _check_config(self)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_config(c: DegradationConfig) -> None:
    if not c.depths or len(set(c.depths)) != len(c.depths):
        raise ValueError(f"depths must be distinct and not empty, got {c.depths!r}")
    for depth in c.depths:
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth {depth!r} is not 6n + 2 (8, 14, 20, 32, 44, 56, 110, ...)")
    if c.data not in DATASETS:
        raise ValueError(f"unknown data {c.data!r}; choose one of {', '.join(DATASETS)}")
    if c.shortcut not in ("A", "B"):
        raise ValueError(f"unknown shortcut option {c.shortcut!r}; choose 'A' or 'B'")
    for name in ("steps", "batch_size", "log_every", "eval_every", "eval_size", "final_train_size", "warmup_depth"):
        _positive(name, getattr(c, name))
    if c.eval_every % c.log_every:
        raise ValueError(f"eval_every ({c.eval_every}) must be a multiple of log_every ({c.log_every})")
    for name in ("lr", "warmup_factor", "gamma"):
        value = getattr(c, name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not all(isinstance(m, (int, float)) and 0 < m < 1 for m in c.milestones):
        raise ValueError(f"milestones are fractions of the steps in (0, 1), got {c.milestones!r}")


_LISTS = ("steps", "train_loss", "train_error", "lr", "test_steps", "test_error", "layer_gradients")


@dataclass
class NetworkCurve:
    """One network's curves so far."""

    name: str  # "plain-56", "ResNet-20"
    depth: int
    residual: bool
    shortcut: str | None  # "A" / "B" for residual nets, None for plain ones
    parameters: int
    steps: list[int] = field(default_factory=list)  # logged steps
    train_loss: list[float] = field(default_factory=list)  # running, over the window ending at each step
    train_error: list[float] = field(default_factory=list)  # running top-1 error in [0, 1]
    lr: list[float] = field(default_factory=list)  # learning rate at each logged step
    test_steps: list[int] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)  # eval mode, fixed test subset
    ratios: dict[str, list[float]] = field(default_factory=dict)  # stage -> mean |F(x)|/|x| at test_steps
    # |dL/dW| (Frobenius norm) of every weighted layer on the first training batch, before any
    # update: stem conv, the blocks' convs, fc (input side first; depth values). Why a deep plain
    # net starts late: its first layer's gradient is ~1,000x its last layer's (see degradation/presets.py).
    layer_gradients: list[float] = field(default_factory=list)
    final_train_error: float | None = None  # eval mode, fixed training subset, after the last step
    final_test_error: float | None = None  # eval mode, whole test split, after the last step
    seconds: float = 0.0  # time spent training and evaluating this network

    def copy(self) -> NetworkCurve:
        return dataclasses.replace(
            self,
            **{k: list(getattr(self, k)) for k in _LISTS},
            ratios={k: list(v) for k, v in self.ratios.items()},
        )


@dataclass
class DegradationResult:
    """A run's curves, partial while it runs (``finished`` False) and complete at the end."""

    config: DegradationConfig
    data: dict[str, Any]
    device: str
    networks: list[NetworkCurve]
    step: int = 0  # steps done by every network
    finished: bool = False
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return len(self.networks[0].steps) if self.networks else 0

    def network(self, name: str) -> NetworkCurve:
        for net in self.networks:
            if net.name == name:
                return net
        raise KeyError(f"no network {name!r}; have {', '.join(n.name for n in self.networks)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "data": self.data,
            "device": self.device,
            "step": self.step,
            "total_steps": self.config.steps,
            "finished": self.finished,
            "seconds": round(self.seconds, 3),
            "networks": [dataclasses.asdict(n) for n in self.networks],
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> DegradationResult:
        config = {k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()}
        return cls(
            config=DegradationConfig(**config),
            data=payload["data"],
            device=payload["device"],
            networks=[NetworkCurve(**n) for n in payload["networks"]],
            step=payload["step"],
            finished=payload["finished"],
            seconds=payload["seconds"],
        )


Progress = Callable[[float, DegradationResult], Any]
"""``progress(fraction, partial)`` is called after every round of steps (one step of each
network, a fraction of a second on a CPU), after each network's final evaluation, and once more
with the finished result; ``partial`` is a fresh copy of the result so far, and a new logged
point is there when ``partial.points`` grew. It may block (the run waits) or raise (the run stops,
the exception propagates)."""


@dataclass(eq=False)
class _Run:
    """One network in training."""

    model: CifarResNet
    optimizer: torch.optim.SGD
    curve: NetworkCurve
    warming_up: bool
    # Running sums over the current logging window, kept on the device so a GPU is not made to
    # wait for the host after every step; read once per logged point.
    loss_sum: torch.Tensor | float = 0.0
    wrong: torch.Tensor | int = 0
    seen: int = 0


def _build(config: DegradationConfig, depth: int, residual: bool, classes: int, device: torch.device) -> CifarResNet:
    # Seeded by depth only, so plain-d and ResNet-d start from the very same weights (option A
    # adds no parameters); fork_rng leaves the caller's global RNG as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed * 1000 + depth)
        return build_cifar_model(depth, residual=residual, shortcut=config.shortcut, num_classes=classes).to(device)


def _sgd(model: nn.Module, config: DegradationConfig) -> torch.optim.SGD:
    kwargs = dict(lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    try:
        # One fused update for all ~170 tensors of a 56-layer net instead of a Python loop over
        # them: about 5% of a step at 8x8 on the CPU, more on a GPU.
        return torch.optim.SGD(model.parameters(), fused=True, **kwargs)
    except (RuntimeError, ValueError):  # a device without a fused SGD kernel
        return torch.optim.SGD(model.parameters(), **kwargs)


def _lr(config: DegradationConfig, run: _Run, step: int) -> float:
    if run.warming_up:
        return config.lr * config.warmup_factor
    passed = sum(step >= m * config.steps for m in config.milestones)
    return config.lr * config.gamma**passed


def _train_step(config: DegradationConfig, run: _Run, x: torch.Tensor, y: torch.Tensor, step: int) -> None:
    for group in run.optimizer.param_groups:
        group["lr"] = _lr(config, run, step)
    run.model.train()
    logits = run.model(x)
    loss = F.cross_entropy(logits, y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if not run.curve.layer_gradients:  # the first step: the gradients at initialisation
        run.curve.layer_gradients = [float(w.grad.norm()) for w in _layer_weights(run.model)]
    run.optimizer.step()
    run.loss_sum = run.loss_sum + loss.detach() * y.numel()
    run.wrong = run.wrong + (logits.detach().argmax(1) != y).sum()
    run.seen += y.numel()


def _layer_weights(model: CifarResNet) -> list[torch.Tensor]:
    """The weights of the network's depth layers in order: stem conv, each block's two convs, fc
    (option B's 1x1 projections are shortcuts, not layers of the depth)."""
    blocks = [info.module for info in model.blocks()]
    return [model.conv1.weight, *(w for b in blocks for w in (b.conv1.weight, b.conv2.weight)), model.fc.weight]


@contextlib.contextmanager
def _ratio_taps(model: CifarResNet, sums: dict[str, list[float]]) -> Iterator[None]:
    """Collect per-block |F(x)| and |x| (RMS) from the residual / shortcut taps during a forward."""
    handles = []
    for info in model.blocks():
        def hook(module: nn.Module, args: tuple, out: torch.Tensor, key: str = info.name) -> None:
            sums.setdefault(key, []).append(float(out.detach().float().pow(2).mean().sqrt()))

        handles.append(info.module.residual.register_forward_hook(hook))
        handles.append(info.module.shortcut.register_forward_hook(lambda m, a, o, key=info.name: hook(m, a, o, key + "/s")))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.inference_mode()
def _error(model: nn.Module, data: TrainingData, index: torch.Tensor, train_split: bool, chunk: int = 500) -> float:
    model.eval()
    wrong = 0
    for start in range(0, index.numel(), chunk):
        x, y = data.test_batch(index[start : start + chunk], train_split=train_split)
        wrong += int((model(x).argmax(1) != y).sum())
    return wrong / index.numel()


def _evaluate(config: DegradationConfig, run: _Run, data: TrainingData, index: torch.Tensor, step: int) -> None:
    curve = run.curve
    rms: dict[str, list[float]] = {}
    taps = _ratio_taps(run.model, rms) if (config.track_ratios and curve.residual) else contextlib.nullcontext()
    with taps:
        error = _error(run.model, data, index, train_split=False)
    curve.test_steps.append(step)
    curve.test_error.append(error)
    if rms:
        for stage in run.model.stages[1:]:
            names = [i.name for i in run.model.blocks() if i.stage == stage.name]
            ratios = [sum(rms[n]) / max(sum(rms[n + "/s"]), 1e-12) for n in names]
            curve.ratios.setdefault(stage.name, []).append(sum(ratios) / len(ratios))


def _log(config: DegradationConfig, run: _Run, step: int) -> None:
    curve = run.curve
    curve.steps.append(step)
    curve.train_loss.append(float(run.loss_sum) / run.seen)
    curve.train_error.append(int(run.wrong) / run.seen)
    curve.lr.append(_lr(config, run, step - 1))
    if run.warming_up and (curve.train_error[-1] < config.warmup_until_error or step >= config.warmup_max_steps):
        run.warming_up = False
        log.info("%s: warm-up over at step %d", curve.name, step)
    run.loss_sum, run.wrong, run.seen = 0.0, 0, 0


def _device(device: str | torch.device) -> torch.device:
    try:
        return resolve_device(device)
    except (WeightsError, RuntimeError) as exc:
        raise ValueError(str(exc)) from None


def _snapshot(result: DegradationResult, runs: list[_Run], start: float) -> DegradationResult:
    return dataclasses.replace(result, networks=[r.curve.copy() for r in runs], seconds=time.perf_counter() - start)


def degradation_experiment(
    depths: tuple[int, ...] = DegradationConfig.depths,
    data: str = "offline",
    steps: int = DegradationConfig.steps,
    batch_size: int = DegradationConfig.batch_size,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: Progress | None = None,
    *,
    training_data: TrainingData | None = None,
    **config: Any,
) -> DegradationResult:
    """Train plain-d and ResNet-d for every d in ``depths``, interleaved, and return their curves.

    ``config`` takes any other :class:`DegradationConfig` field (lr, milestones, log_every, ...).
    ``training_data`` overrides loading ``data`` (tests pass small sets). See :data:`Progress`
    for the callback; the networks are local, so nothing needs restoring when it raises.
    """
    cfg = DegradationConfig(depths=tuple(depths), data=data, steps=steps, batch_size=batch_size, seed=seed, **config)
    dev = _device(device)
    start = time.perf_counter()
    if training_data is None:
        training_data = load_data(cfg.data, download=True)
    td = training_data.to(dev)
    classes = len(td.classes)
    order = [(d, residual) for residual in _VARIANTS for d in cfg.depths]  # plain first, as Fig. 6
    runs = []
    for depth, residual in order:
        model = _build(cfg, depth, residual, classes, dev)
        curve = NetworkCurve(
            name=model.name,
            depth=depth,
            residual=residual,
            shortcut=cfg.shortcut if residual else None,
            parameters=sum(p.numel() for p in model.parameters()),
        )
        optimizer = _sgd(model, cfg)
        runs.append(_Run(model, optimizer, curve, warming_up=depth >= cfg.warmup_depth))

    g = torch.Generator().manual_seed(cfg.seed)
    n_train, n_test = td.train_labels.numel(), td.test_labels.numel()
    eval_index = torch.randperm(n_test, generator=torch.Generator().manual_seed(1))[: cfg.eval_size]
    final_train_index = torch.randperm(n_train, generator=torch.Generator().manual_seed(2))[: cfg.final_train_size]
    result = DegradationResult(config=cfg, data=td.info(), device=str(dev), networks=[r.curve for r in runs])
    epoch: torch.Tensor = torch.empty(0, dtype=torch.int64)
    for step in range(1, cfg.steps + 1):
        if epoch.numel() < cfg.batch_size:  # a new pass over the training set, reshuffled
            epoch = torch.randperm(n_train, generator=g)
        batch, epoch = epoch[: cfg.batch_size], epoch[cfg.batch_size :]
        x, y = td.train_batch(batch, g)
        for run in runs:
            tic = time.perf_counter()
            _train_step(cfg, run, x, y, step - 1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                _log(cfg, run, step)
                if step % cfg.eval_every == 0 and step != cfg.steps:
                    _evaluate(cfg, run, td, eval_index, step)
            _sync(dev)
            run.curve.seconds += time.perf_counter() - tic
        result.step = step
        if progress is not None:
            progress(step / cfg.steps, _snapshot(result, runs, start))
    # The final evaluations (whole test split, a fixed training subset), one network at a time
    # with a progress call after each, so no wait between two calls is longer than one of them.
    for run in runs:
        tic = time.perf_counter()
        _evaluate(cfg, run, td, torch.arange(n_test), cfg.steps)
        run.curve.final_test_error = run.curve.test_error[-1]
        run.curve.final_train_error = _error(run.model, td, final_train_index, train_split=True)
        _sync(dev)
        run.curve.seconds += time.perf_counter() - tic
        if progress is not None and run is not runs[-1]:
            progress(1.0, _snapshot(result, runs, start))
    result.finished = True
    result.seconds = time.perf_counter() - start
    final = _snapshot(result, runs, start)
    if progress is not None:
        progress(1.0, final)
    return final


def _sync(device: torch.device) -> None:
    # Per-network seconds are only honest on a GPU if its queued work is done.
    if device.type == "cuda":
        torch.cuda.synchronize(device)
