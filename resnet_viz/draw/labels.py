"""The words drawn inside charts and pictures, English by default.

Charts (:mod:`resnet_viz.draw.charts`), pictures (:mod:`resnet_viz.draw.render`) and the block table
(:mod:`resnet_viz.draw.block_names`) take a ``labels`` mapping with any of these keys; the words
are the catalogue's ``chart_<key>`` texts (English here; the app passes
:func:`resnet_viz.i18n.chart_labels` for the visitor's language). Texts with ``{...}``
fields are templates: keep the fields when translating.
"""

from __future__ import annotations

from typing import Mapping

from ..i18n import catalogue_words

__all__ = ["DEFAULT_LABELS", "merge_labels"]

# The catalogue's chart_* words in English (resnet_viz/i18n/en.json): one source for every language.
DEFAULT_LABELS: dict[str, str] = catalogue_words("chart_")


def merge_labels(labels: Mapping[str, str] | None, defaults: Mapping[str, str] = DEFAULT_LABELS) -> dict[str, str]:
    """``defaults`` with ``labels`` on top; an unknown key is an error (a typo would be silent)."""
    merged = dict(defaults)
    if labels:
        unknown = sorted(set(labels) - set(defaults))
        if unknown:
            raise ValueError(f"unknown label key {unknown[0]!r}; known keys: {', '.join(defaults)}")
        merged.update(labels)
    return merged
