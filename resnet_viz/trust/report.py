"""Every trust measure for one photo and several methods: the CLI's JSON and the "compare all
methods" table, with the baselines computed once per photo."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ..explain.attribution import attribute
from ..explain.methods import METHOD_SPECS, method_spec
from ..model.preprocess import ImageSource
from ..model.runtime import as_model_input, autocast, image_input
from ..probe.targets import Target, resolve_target, target_info
from .faithfulness import BASELINES, Curve, FaithfulnessResult, faithfulness
from .road import PERCENTILES
from .sanity import SanityResult, sanity_check

__all__ = ["COMPARABLE_METHODS", "MethodTrust", "TrustReport", "trust_report"]

Progress = Callable[[float], None]

# Every method with one map per call (the ladder is Grad-CAM at four stages: use gradcam).
COMPARABLE_METHODS = tuple(key for key, spec in METHOD_SPECS.items() if spec.comparable)


@dataclass
class MethodTrust:
    method: str
    randomisation: SanityResult | None
    faithfulness: FaithfulnessResult

    def to_json(self) -> dict[str, Any]:
        f = self.faithfulness
        out: dict[str, Any] = {}
        if self.randomisation is not None:
            r = self.randomisation.to_json()
            out["randomisation"] = {k: r[k] for k in ("steps", "spearman_abs", "spearman", "ssim", "chance", "verdict", "modules") if k in r}
        out["deletion"] = f.deletion.to_json()
        out["insertion"] = f.insertion.to_json()
        if f.road is not None:
            out["road"] = f.road.to_json()
        return out


@dataclass
class TrustReport:
    target: dict[str, Any]
    protocol: dict[str, Any]
    methods: dict[str, MethodTrust]
    baselines: dict[str, dict[str, Curve]]
    timing_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "protocol": self.protocol,
            "methods": {name: m.to_json() for name, m in self.methods.items()},
            "baselines": {name: {k: c.to_json() for k, c in curves.items()} for name, curves in self.baselines.items()},
            "timing_ms": self.timing_ms,
        }

    def table(self) -> list[dict[str, Any]]:
        """One row per method, then one per baseline: verdict, deletion and insertion AUC, ROAD."""
        rows = []
        for name, m in self.methods.items():
            f = m.faithfulness
            rows.append({
                "method": name,
                "verdict": m.randomisation.verdict if m.randomisation is not None else None,
                "deletion_auc": f.deletion.auc,
                "insertion_auc": f.insertion.auc,
                "road": f.road.score if f.road is not None else None,
            })
        for name, curves in self.baselines.items():
            rows.append({
                "method": f"baseline: {name}",
                "verdict": None,
                "deletion_auc": curves["deletion"].auc,
                "insertion_auc": curves["insertion"].auc,
                "road": None,
            })
        return rows


def trust_report(
    model: torch.nn.Module,
    image: ImageSource | torch.Tensor,
    methods: Sequence[str],
    *,
    target: Target = None,
    steps: str = "stages",
    curve_steps: int = 28,
    percentiles: Sequence[int] = PERCENTILES,
    seed: int = 0,
    randomisation: bool = True,
    road: bool = True,
    progress: Progress | None = None,
) -> TrustReport:
    """The model randomisation test (unless ``randomisation=False``), deletion, insertion and ROAD
    for each of ``methods`` on ``image``, all for one class (``target``, None: the top-1), and the
    random and edge baselines once. ``progress`` as in :func:`~resnet_viz.trust.faithfulness`."""
    if not methods:
        raise ValueError("name at least one method")
    for method in methods:
        method_spec(method)
        if method not in COMPARABLE_METHODS:
            raise ValueError(f"{method} has no single map to score; choose from {', '.join(COMPARABLE_METHODS)}")
    start = time.perf_counter()
    x = image_input(model, image)[0].detach()
    with torch.inference_mode(), autocast(model):
        logits = model(as_model_input(model, x[None]))[0].float().cpu()
    index = resolve_target(model, target, logits)
    stage = model.stages[-1].name
    parts = len(methods) * (2 if randomisation else 1)
    done = 0

    def part() -> Progress | None:
        if progress is None:
            return None
        base = done
        return lambda fraction: progress((base + fraction) / parts)

    results: dict[str, MethodTrust] = {}
    baselines: dict[str, dict[str, Curve]] = {}
    timing: dict[str, float] = {}
    for method in methods:
        tick = time.perf_counter()
        sanity = None
        if randomisation:
            sanity = sanity_check(model, x, method, target=index, steps=steps, seed=seed, stage=stage, progress=part())
            done += 1
            attribution = sanity.original
        else:
            attribution = attribute(model, x, method, target=index, stage=stage)["map"]
        scores = faithfulness(
            model, x, attribution, target=index, steps=curve_steps, baselines=() if baselines else BASELINES,
            road=road, percentiles=percentiles, seed=seed, progress=part(),
        )
        done += 1
        baselines = baselines or scores.baselines
        results[method] = MethodTrust(method, sanity, scores)
        timing[method] = 1000 * (time.perf_counter() - tick)
    timing["total"] = 1000 * (time.perf_counter() - start)
    first = next(iter(results.values()))
    return TrustReport(
        target=target_info(model, logits, index),
        protocol={
            "randomisation": (
                {**{k: v for k, v in first.randomisation.protocol.items() if k != "method_options"}, "stage": stage}
                if first.randomisation is not None
                else None
            ),
            "faithfulness": first.faithfulness.protocol,
            "weights": getattr(getattr(model, "meta", None), "weights", None),
            "arch": getattr(getattr(model, "meta", None), "arch", None),
        },
        methods=results,
        baselines=baselines,
        timing_ms=timing,
    )
