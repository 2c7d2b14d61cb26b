"""The data randomisation test (Adebayo et al. 2018, section 5): the same network trained on the
true labels and on randomly permuted ones. The permuted-label network can only memorise its
training scenes (it is at chance on new ones), so a method whose maps look the same on both
networks shows something about the input, not about what was learned.

:func:`data_randomisation` compares two trained networks' maps on fresh scenes, each for the
scene's true class; :func:`data_randomisation_test` trains both networks first (a few minutes on
one core with the defaults, see the README) and is what the lab runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..explain.attribution import attribute
from ..explain.methods import method_spec
from .lab import LabConfig, LabNetwork, scene_batch, train_lab_network
from .sanity import CHANCE_DEFINITION, CHANCE_SAMPLES, VERDICT_RULE, magnitude, verdict
from .similarity import chance_band, spearman, ssim, surrogates

__all__ = ["DataRandomisationResult", "PERMUTED_CONFIG", "TRUE_CONFIG", "data_randomisation", "data_randomisation_test"]

Progress = Callable[[float], None]

TRUE_CONFIG = LabConfig(labels="true")
PERMUTED_CONFIG = LabConfig(labels="permuted", train_size=500, steps=1000)  # memorising 500 scenes: 64 epochs


@dataclass
class DataRandomisationResult:
    method: str
    classes: list[int]  # each scene's true class: the target on both networks
    spearman_abs: list[float]  # per scene, true-label map vs permuted-label map
    spearman: list[float] | None  # signed methods
    ssim: list[float]
    chance: dict[str, Any]  # the per-scene bands' means: {"definition", "samples", "spearman_abs": {...}, "ssim": {...}}
    verdict: str  # the model randomisation test's rule on the means: does the map depend on what was learned?
    networks: dict[str, Any]  # "true" / "permuted": how each was trained and how well it learned
    maps_true: list[np.ndarray] = field(repr=False)
    maps_permuted: list[np.ndarray] = field(repr=False)
    timing_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "classes": self.classes,
            "spearman_abs": self.spearman_abs,
            **({"spearman": self.spearman} if self.spearman is not None else {}),
            "ssim": self.ssim,
            "mean": {"spearman_abs": float(np.mean(self.spearman_abs)), "ssim": float(np.mean(self.ssim))},
            "chance": self.chance,
            "verdict": self.verdict,
            "rule": VERDICT_RULE.replace("after the last step (everything randomised)", "between the two networks (mean over scenes)"),
            "networks": self.networks,
            "timing_ms": self.timing_ms,
        }


def _mean_band(bands: Sequence[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([b[key] for b in bands])) for key in ("low", "high", "mean")}


def data_randomisation(
    true_network: LabNetwork,
    permuted_network: LabNetwork,
    method: str,
    *,
    scenes: int = 16,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> DataRandomisationResult:
    """``method``'s maps on ``scenes`` fresh test scenes from both networks, compared per scene
    (Spearman of the absolute maps, of the signed maps, SSIM) against the chance band of
    :func:`~resnet_viz.trust.sanity_check`; the verdict applies its rule to the means."""
    spec = method_spec(method)
    start = time.perf_counter()
    x, labels, _ = scene_batch(scenes)
    stage = true_network.model.stages[-1].name if spec.needs_stage else "C5"
    maps_true, maps_permuted = [], []
    abs_values, ssim_values, signed_values, abs_bands, ssim_bands = [], [], [], [], []
    signed = spec.signed
    for i in range(scenes):
        target = int(labels[i])
        a = attribute(true_network.model, x[i], method, target=target, stage=stage, **(options or {}))
        b = attribute(permuted_network.model, x[i], method, target=target, stage=stage, **(options or {}))
        maps_true.append(a["map"])
        maps_permuted.append(b["map"])
        base = magnitude(a["map"], signed)
        other = magnitude(b["map"], signed)
        abs_values.append(float(spearman(base, other)))
        ssim_values.append(float(ssim(base, other)))
        if signed:
            signed_values.append(float(spearman(a["map"] - 0.5, b["map"] - 0.5)))
        random_maps = surrogates(base, CHANCE_SAMPLES, seed + i)
        abs_bands.append(chance_band(spearman(base, random_maps)))
        ssim_bands.append(chance_band(ssim(base, random_maps)))
        if progress is not None:
            progress((i + 1) / scenes)
    chance = {
        "definition": CHANCE_DEFINITION + "; per scene, then averaged over the scenes",
        "samples": CHANCE_SAMPLES,
        "spearman_abs": _mean_band(abs_bands),
        "ssim": _mean_band(ssim_bands),
    }
    return DataRandomisationResult(
        method=method,
        classes=[int(c) for c in labels],
        spearman_abs=abs_values,
        spearman=signed_values if signed else None,
        ssim=ssim_values,
        chance=chance,
        verdict=verdict(float(np.mean(abs_values)), chance["spearman_abs"]["high"]),
        networks={"true": true_network.to_json(), "permuted": permuted_network.to_json()},
        maps_true=maps_true,
        maps_permuted=maps_permuted,
        timing_ms=1000 * (time.perf_counter() - start),
    )


def data_randomisation_test(
    methods: Sequence[str] = ("gradcam", "guided_backprop", "saliency"),
    *,
    true_config: LabConfig = TRUE_CONFIG,
    permuted_config: LabConfig = PERMUTED_CONFIG,
    scenes: int = 16,
    progress: Progress | None = None,
    report_every: int = 20,
) -> dict[str, DataRandomisationResult]:
    """Train the lab network on true and on permuted labels, then compare each method's maps.
    ``progress(fraction)`` is called while training (every ``report_every`` steps) and after every
    scene; it may block (the app pauses it while its models compute) or raise to cancel."""
    if true_config.labels != "true" or permuted_config.labels != "permuted":
        raise ValueError("true_config needs labels='true' and permuted_config labels='permuted'")
    for method in methods:
        method_spec(method)
    work = [true_config.steps, permuted_config.steps, scenes * len(methods) * 20]  # ~ seconds-weighted shares
    total = float(sum(work))

    def share(offset: float, size: float) -> Progress | None:
        return None if progress is None else (lambda fraction: progress((offset + size * fraction) / total))

    true_network = train_lab_network(true_config, progress=share(0, work[0]), report_every=report_every)
    permuted_network = train_lab_network(permuted_config, progress=share(work[0], work[1]), report_every=report_every)
    results = {}
    per_method = work[2] / max(len(methods), 1)
    for k, method in enumerate(methods):
        results[method] = data_randomisation(
            true_network, permuted_network, method, scenes=scenes,
            progress=share(work[0] + work[1] + k * per_method, per_method),
        )
    return results
