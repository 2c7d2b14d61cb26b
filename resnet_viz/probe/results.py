"""What the measurements return: typed results with named fields, and their JSON in one method.

Each result is a dataclass; ``to_json()`` gives the JSON the API, the CLI and the download zip
send (the same keys, in the same order, as before results had types, so the bytes on the wire did
not change). A result can also be read by key (``report["predictions"]``), like the dict it used to
be: old notebooks keep working, and new code reads fields (``report.predictions``). The rows
inside (a prediction, a stage's statistics, a block's) keep their JSON shape, typed with
``TypedDict`` so an editor knows their keys.

A field marked :func:`optional` is left out of the keys and the JSON when it is None: one type
serves both uses of :func:`~resnet_viz.probe.lesion.lesion` (the sweep, and the scaled forward).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

__all__ = ["AnalysisReport", "BlockRow", "GradientFlowResult", "LesionResult", "Prediction", "Result", "StageRow",
           "TargetInfo", "optional"]


def optional() -> Any:
    """A field that is None when it does not apply, and then absent from the keys and the JSON."""
    return dataclasses.field(default=None, metadata={"optional": True})


class Result(Mapping[str, Any]):
    """Base of the typed results: read-only access by key, and :meth:`to_json`."""

    def _keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if not (f.metadata.get("optional") and getattr(self, f.name) is None)]

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields, in order, optional ones only when they apply."""
        return {key: getattr(self, key) for key in self._keys()}


class TargetInfo(TypedDict):
    index: int
    label: str
    probability: float


class Prediction(TypedDict):
    index: int
    label: str
    probability: float


class StageRow(TypedDict, total=False):
    name: str
    channels: int
    height: int
    width: int
    stride: int
    mean: float
    max: float
    zero_fraction: float


class BlockRow(TypedDict, total=False):
    name: str
    stage: str
    kind: str  # "identity" | "convolution"


@dataclass(eq=False)
class AnalysisReport(Result):
    """:func:`~resnet_viz.probe.analysis.analyze`: predictions, C1..C5 statistics, F(x) vs x per block."""

    arch: str
    weights: str
    device: str
    runtime: dict[str, Any]  # how the model ran: device, memory layout, threads, dtype
    image: dict[str, int]  # the photo's width and height as uploaded
    predictions: list[Prediction]
    stages: list[StageRow]
    blocks: list[BlockRow]  # and the residual/shortcut statistics of each block
    timing_ms: dict[str, float]


@dataclass(eq=False)
class GradientFlowResult(Result):
    """:func:`~resnet_viz.probe.gradient_flow.gradient_flow`: per block, the gradient through the
    shortcut, through F and through the plain twin."""

    arch: str
    target: TargetInfo
    blocks: list[dict[str, Any]]
    timing_ms: float


@dataclass(eq=False)
class LesionResult(Result):
    """:func:`~resnet_viz.probe.lesion.lesion`, both uses in one type.

    The sweep (no scales) fills ``intact`` and ``blocks`` (one row per removed residual branch);
    a scaled forward fills ``scales``, ``predictions``, ``intact_predictions`` and ``kl_divergence``.
    """

    arch: str
    intact: TargetInfo | None = optional()
    blocks: list[dict[str, Any]] | None = optional()
    scales: dict[str, float] | None = optional()
    predictions: list[Prediction] | None = optional()
    intact_predictions: list[Prediction] | None = optional()
    kl_divergence: float | None = optional()
    timing_ms: float | None = optional()

    @property
    def is_sweep(self) -> bool:
        return self.blocks is not None
