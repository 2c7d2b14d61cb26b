"""One forward pass, everything the explorer shows: predictions, C1..C5 and every block's F(x) vs x.

Scoped forward hooks (see :mod:`resnet_viz.probe.hooks`) observe each block's ``residual`` tap F(x),
its ``shortcut`` tap s(x) and its output, and reduce them to a few numbers per image as the
forward runs, so no block tensor outlives its block. The stage outputs C1..C5 are kept, for the
UI to render without a second forward.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from PIL import Image
from torch import Tensor

from ..model.preprocess import ImageSource, crop_image, load_image, original_size, preprocess, working_side
from ..model.resnet import ResNet
from ..model.runtime import as_model_input, autocast, model_device, runtime_json
from .hooks import forward_taps
from .results import AnalysisReport

__all__ = ["AnalysisTensors", "analyze", "analyze_batch", "top_predictions"]

_PER_IMAGE = (1, 2, 3)  # reduce (B, C, H, W) over everything but the batch


@dataclass
class AnalysisTensors:
    """The tensors behind one analysis, on the CPU, for rendering."""

    input: Tensor  # (3, 224, 224) normalised: exactly what the network saw
    crop: Image.Image  # the same crop as an RGB picture
    stages: dict[str, Tensor]  # "C1".."C5" -> (C, H, W)
    logits: Tensor  # (num_classes,)


def _is_channels_last(t: Tensor) -> bool:
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def _rows(t: Tensor, channels_last: bool) -> tuple[Tensor, ...]:
    """(B, C, H, W) -> one 1-D view per image, elements in channels-last or NCHW order (no copy
    when that is ``t``'s memory order). Two tensors flattened in the same order line up
    element-wise for a dot product."""
    if channels_last:
        t = t.permute(0, 2, 3, 1)
    if t.shape[0] == 1:
        return (t.reshape(-1),)
    return t.reshape(t.shape[0], -1).unbind(0)


def _dots(a: tuple[Tensor, ...], b: tuple[Tensor, ...]) -> Tensor:
    """Per-image dot products, in float32 even under bf16/fp16 autocast: a 0-d tensor for one
    image, (B,) for several."""
    if a[0].dtype != torch.float32:
        same = b is a
        a = tuple(x.float() for x in a)
        b = a if same else tuple(y.float() for y in b)
    dots = [torch.dot(x, y) for x, y in zip(a, b)]
    return dots[0] if len(dots) == 1 else torch.stack(dots)


def _stage_statistics(t: Tensor) -> list[Tensor]:
    """Mean, max and share of exact zeros per image of one (B, C, H, W) stage output.

    Stage outputs follow a ReLU, and for t >= 0 sign(t) counts the non-zeros 3x faster than a
    bool reduction; anything else takes the slow path. (``torch.aminmax`` would give the max and
    the sign check in one pass but is 5x slower than ``amax`` and ``amin`` together on a CPU.)
    """
    t32 = t.float()  # free for float32
    if bool(t.amin() >= 0):
        nonzero = t.sign().sum(dim=_PER_IMAGE, dtype=torch.float32)
    else:
        nonzero = t.ne(0).sum(dim=_PER_IMAGE).float()
    return [t32.mean(dim=_PER_IMAGE), t32.amax(dim=_PER_IMAGE), 1.0 - nonzero / (t.numel() // t.shape[0])]


class _BlockProbe:
    """Receives tap outputs in forward order and keeps per-image reductions only.

    Every reduction is a BLAS dot product per image (one pass, no temporaries): on a CPU it is
    4-5x cheaper than ``vector_norm`` and 5-30x cheaper than ``pow().mean()`` or
    ``cosine_similarity``. An identity block's shortcut is the previous block's output, whose
    sum of squares is already known.

    Each dot runs as soon as its tensors exist, while they are still in the CPU's cache: |F|^2
    when F(x) is produced, |s|^2 and F.s when s(x) is (before the addition writes two more
    tensors of the same size), |H|^2 when the block's output is: ResNet-50's first-stage tensors
    (3.2 MB each) outgrow a 2 MB L2 cache, and doing the dots at the end of the block cost a
    third more (7.2 vs 4.7 ms of CPU per image on the 2-core Xeon). Stage statistics are taken
    the same way on a CPU. What derives from the dots is computed for all blocks at once after
    the forward (``block_table``), a dozen tensor operations instead of a dozen per block.
    """

    STATISTICS = ("residual_rms", "shortcut_rms", "ratio", "cosine", "output_rms")

    def __init__(self, model: ResNet) -> None:
        self.taps: dict[str, torch.nn.Module] = {}
        for info in model.blocks():
            self.taps[f"{info.name}/residual"] = info.module.residual
            self.taps[f"{info.name}/shortcut"] = info.module.shortcut
            self.taps[f"{info.name}/output"] = info.module.relu_out
        for name, module in model.stage_modules().items():
            self.taps[f"stage/{name}"] = module
        # This block's F(x) until its s(x) arrives: (owner, its per-image rows, their order).
        self._residual: tuple[str, tuple[Tensor, ...], bool] | None = None
        # The last block output: (tensor, its per-image rows, their order, per-image sum of squares).
        self._last_output: tuple[Tensor, tuple[Tensor, ...], bool, Tensor] | None = None
        self._names: list[str] = []  # blocks in forward order
        self._sums: list[Tensor] = []  # per block: |F|^2, |s|^2, F.s, |H|^2, each 0-d or (B,)
        self._sizes: list[int] = []  # elements per image of each block's F(x)
        self.stages: dict[str, Tensor] = {}  # "C1" -> (B, C, H, W)
        self._stage_rows: dict[str, list[Tensor]] = {}  # "C1" -> mean, max, zero fraction, each (B,)

    def __call__(self, tap: str, output: Tensor) -> None:
        owner, part = tap.split("/")
        if owner == "stage":
            self.stages[part] = output
            if output.device.type == "cpu":  # while it is in the cache; a GPU would stall on amin's sync
                self._stage_rows[part] = _stage_statistics(output)
        elif part == "residual":
            if owner in self._names:
                raise RuntimeError(f"block {owner} ran twice in one forward; the model must call each block once")
            order = _is_channels_last(output)
            f = _rows(output, order)
            self._residual = (owner, f, order)
            self._sums.append(_dots(f, f))
            self._sizes.append(f[0].numel())
        elif part == "shortcut":
            if self._residual is None or self._residual[0] != owner:
                raise RuntimeError(f"block {owner}'s shortcut ran before its residual branch; the probe needs F(x) first")
            _, f, order = self._residual
            last = self._last_output
            if last is not None and last[0] is output:  # an identity block: s(x) is the last output
                s = last[1] if last[2] == order else _rows(output, order)
                s_sq = last[3]
            else:
                s = _rows(output, order)
                s_sq = _dots(s, s)
            self._sums += [s_sq, _dots(f, s)]
        else:
            out_order = _is_channels_last(output)
            out = _rows(output, out_order)
            out_sq = _dots(out, out)
            self._last_output = (output, out, out_order, out_sq)
            self._residual = None
            self._names.append(owner)
            self._sums.append(out_sq)

    def stage_table(self) -> dict[str, dict[str, list[float]]]:
        """Stage name -> mean / max / zero_fraction -> per-image values, in one transfer."""
        if not self.stages:
            return {}
        rows = [r for name, t in self.stages.items() for r in self._stage_rows.get(name) or _stage_statistics(t)]
        values = torch.stack(rows).view(len(self.stages), 3, -1).cpu().tolist()
        return {name: dict(zip(("mean", "max", "zero_fraction"), stats)) for name, stats in zip(self.stages, values)}

    def block_table(self) -> dict[str, dict[str, list[float]]]:
        """Block name -> statistic -> per-image values, for all blocks in one transfer."""
        if not self._names:
            return {}
        sums = torch.stack(self._sums).view(len(self._names), 4, -1)  # (blocks, 4, B)
        f_norm, s_norm, dot, out_norm = sums[:, 0].sqrt(), sums[:, 1].sqrt(), sums[:, 2], sums[:, 3].sqrt()
        root_n = torch.tensor([n**0.5 for n in self._sizes], dtype=sums.dtype, device=sums.device).unsqueeze(1)
        stats = torch.stack(
            [
                f_norm / root_n,
                s_norm / root_n,
                f_norm / s_norm.clamp_min(1e-12),
                dot / (f_norm * s_norm).clamp_min(1e-12),
                out_norm / root_n,
            ],
            dim=1,
        )  # (blocks, 5, B)
        values = stats.cpu().tolist()
        return {name: dict(zip(self.STATISTICS, rows)) for name, rows in zip(self._names, values)}


def top_predictions(model: ResNet, logits: Tensor, top_k: int) -> list[dict[str, Any]]:
    """Ranked top-k of one image's (num_classes,) logits, with labels from the weights' meta."""
    probs = torch.softmax(logits.double(), dim=-1)
    values, indices = probs.topk(min(top_k, probs.numel()))
    return [
        {
            "rank": rank,
            "index": index,
            "label": model.meta.categories[index],
            "probability": probability,
            "logit": float(logits[index]),
        }
        for rank, (index, probability) in enumerate(zip(indices.tolist(), values.tolist()), start=1)
    ]


def _check_top_k(top_k: int) -> None:
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


def analyze_batch(
    model: ResNet, images: Sequence[ImageSource], top_k: int = 5, *, return_tensors: bool = False
) -> list[AnalysisReport] | list[tuple[AnalysisReport, AnalysisTensors]]:
    """:func:`analyze` for several images in ONE batched forward pass (results in input order)."""
    _check_top_k(top_k)
    if not images:
        return []
    start = time.perf_counter()
    device = model_device(model)
    side = working_side(model.meta.transforms)  # a large photo is decoded small, never held at full size
    pictures = [load_image(image, short_side=side) for image in images]
    batch = as_model_input(model, torch.stack([preprocess(model.meta.transforms, p) for p in pictures]))
    preprocessed = time.perf_counter()

    probe = _BlockProbe(model)
    with torch.inference_mode(), forward_taps(probe.taps, probe), autocast(model):
        logits = model(batch)
        # One transfer for all block statistics and one for all stage statistics.
        block_table = probe.block_table()
        stage_table = probe.stage_table()
        logits = logits.float().cpu()
    forwarded = time.perf_counter()

    runtime = runtime_json(model)
    stage_info = {s.name: s for s in model.stages}
    block_info = {b.name: b for b in model.blocks()}
    rows = []
    for i, picture in enumerate(pictures):
        fields = dict(
            arch=model.meta.arch,
            weights=model.meta.weights,
            device=str(device),
            runtime=dict(runtime),
            image=dict(zip(("width", "height"), original_size(picture))),
            predictions=top_predictions(model, logits[i], top_k),
            stages=[
                {
                    "name": name,
                    "channels": int(t.shape[1]),
                    "height": int(t.shape[2]),
                    "width": int(t.shape[3]),
                    "stride": stage_info[name].stride,
                    **{k: v[i] for k, v in stage_table[name].items()},
                }
                for name, t in probe.stages.items()
            ],
            blocks=[
                {"name": name, "stage": block_info[name].stage, "kind": block_info[name].kind}
                | {k: v[i] for k, v in stats.items()}
                for name, stats in block_table.items()
            ],
        )
        rows.append(fields)
    done = time.perf_counter()
    timing = {
        "preprocess": 1000 * (preprocessed - start),
        "forward": 1000 * (forwarded - preprocessed),
        "total": 1000 * (done - start),
    }
    results = [AnalysisReport(**fields, timing_ms=dict(timing)) for fields in rows]
    if not return_tensors:
        return results
    cpu_batch = batch.cpu()
    stages_cpu = {name: t.cpu() for name, t in probe.stages.items()}
    return [
        (
            report,
            AnalysisTensors(
                input=cpu_batch[i].contiguous(),
                crop=crop_image(model.meta.transforms, cpu_batch[i]),
                stages={name: t[i].contiguous() for name, t in stages_cpu.items()},
                logits=logits[i],
            ),
        )
        for i, report in enumerate(results)
    ]


def analyze(
    model: ResNet, image: ImageSource, top_k: int = 5, *, return_tensors: bool = False
) -> AnalysisReport | tuple[AnalysisReport, AnalysisTensors]:
    """Predictions, C1..C5 statistics and per-block residual vs shortcut magnitudes, from ONE forward.

    ``image`` is a path, bytes, a PIL image or an (H, W[, 3|4]) array. Returns an
    :class:`~resnet_viz.probe.results.AnalysisReport` (``to_json()`` for JSON; its ``runtime`` says how the model ran: device, memory layout, threads, dtype); with
    ``return_tensors=True`` also the :class:`AnalysisTensors` of the same pass.
    """
    return analyze_batch(model, [image], top_k, return_tensors=return_tensors)[0]
