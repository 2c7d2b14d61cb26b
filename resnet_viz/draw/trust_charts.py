"""The pictures of "Can I trust this map?": the randomisation strip, the similarity curve with its
chance band, and the deletion and insertion curves beside their baselines.

Pure functions of plain data (maps, lists of numbers), so they draw the library's results, the
CLI's JSON or a test's hand-made numbers alike; every word comes from a ``labels`` mapping
(defaults: the catalogue's ``chart_trust_*`` words), so the app can translate them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw

from .annotate import annotate
from .fonts import font_kw, legend_prop, pil_font
from .labels import merge_labels
from .render import attribution_scale, overlay

__all__ = ["data_randomisation_grid", "faithfulness_chart", "randomisation_strip", "similarity_chart"]

TILE = 112  # px per map in the strip: eight fit a page's width


def randomisation_strip(
    crop: Image.Image,
    original: np.ndarray,
    maps: Sequence[np.ndarray],
    steps: Sequence[str],
    *,
    signed: bool,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Image.Image:
    """The original map, then the map after each cumulative randomisation step, in one row, each
    tile captioned ("original", "head", "C5", ...), one colour bar for all (maps in [0, 1])."""
    if len(maps) != len(steps):
        raise ValueError(f"{len(maps)} maps for {len(steps)} steps")
    text = merge_labels(labels)
    scale = attribution_scale(signed, labels=labels)
    small = crop.convert("RGB").resize((TILE, TILE), Image.Resampling.BILINEAR)
    captions = [text["trust_original"], *[text["trust_after"].format(step=s) for s in steps]]
    caption_h = 20
    strip = Image.new("RGB", (TILE * len(captions), TILE + caption_h), "white")
    draw = ImageDraw.Draw(strip)
    for i, (unit, caption) in enumerate(zip([original, *maps], captions)):
        strip.paste(overlay(small, np.asarray(unit), opacity=0.55, cmap=scale.cmap, lo=0.0, hi=1.0), (i * TILE, caption_h))
        font = pil_font(12, caption)  # a Hangul font for Korean captions
        width = draw.textlength(caption, font=font)
        draw.text((i * TILE + (TILE - width) / 2, 3), caption, fill="black", font=font)
    return annotate(strip, title=title, scale=scale)


def similarity_chart(
    steps: Sequence[str],
    spearman_abs: Sequence[float],
    ssim: Sequence[float],
    band: tuple[float, float],
    *,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Rank correlation (and SSIM) of the map after each step with the original, and the chance
    band of the rank correlation: a curve that falls into the band no longer resembles the
    original any more than an unrelated map of the same smoothness does."""
    text = merge_labels(labels)
    fig = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(steps))
    ax.axhspan(band[0], band[1], color="0.85", label=text["trust_chance"], gid="chance-band")
    ax.plot(x, spearman_abs, "-o", color="#c0392b", label=text["trust_spearman"], gid="series:spearman_abs")
    ax.plot(x, ssim, "--s", color="#2c7fb8", markersize=4, label=text["trust_ssim"], gid="series:ssim")
    ax.set_xticks(x, list(steps))
    ax.set_xlabel(text["trust_step_axis"], fontsize=9, **font_kw())
    ax.set_ylabel(text["trust_similarity_axis"], fontsize=9, **font_kw())
    ax.set_ylim(min(-0.2, min(spearman_abs, default=0) - 0.05), 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", prop=legend_prop(8))
    ax.set_title(title or text["trust_similarity_title"], fontsize=10, **font_kw())
    return fig


def faithfulness_chart(
    deletion: Sequence[float],
    insertion: Sequence[float],
    baselines: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    aucs: Mapping[str, float] | None = None,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Deletion (left: the target's probability as the map's most important pixels go; lower is
    better) and insertion (right: as they come back into a blurred copy; higher is better), each
    beside the random ranking and the edge map of the same photo."""
    text = merge_labels(labels)
    fig = Figure(figsize=(8.4, 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    styles = {"random": ("0.55", ":"), "edge": ("#7f7f7f", "--")}
    for ax, kind, curve in ((axes[0], "deletion", deletion), (axes[1], "insertion", insertion)):
        fraction = np.linspace(0, 1, len(curve))
        name = text["trust_map"] + (f" (AUC {aucs[kind]:.3f})" if aucs and kind in aucs else "")
        ax.plot(fraction, curve, "-", color="#c0392b", linewidth=2, label=name, gid=f"{kind}:map")
        for baseline, curves in baselines.items():
            colour, style = styles.get(baseline, ("0.4", "-."))
            values = curves[kind]
            ax.plot(np.linspace(0, 1, len(values)), values, style, color=colour, label=text[f"trust_{baseline}"],
                    gid=f"{kind}:{baseline}")
        ax.set_title(text[f"trust_{kind}"], fontsize=9, wrap=True, **font_kw())
        ax.set_xlabel(text["trust_fraction_axis"], fontsize=9, **font_kw())
        ax.grid(alpha=0.3)
        ax.legend(prop=legend_prop(7))
    axes[0].set_ylabel(text["trust_probability_axis"], fontsize=9, **font_kw())
    if title:
        fig.suptitle(title, fontsize=10, **font_kw())
    return fig


def data_randomisation_grid(
    scenes: Sequence[Image.Image],
    classes: Sequence[str],
    maps: Mapping[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]],
    *,
    title: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Image.Image:
    """Adebayo et al.'s data randomisation, as pictures: a row per scene (the scene, captioned with
    its class), then for each method (``maps``: its name -> (maps of the network trained on the
    true labels, maps of the one trained on shuffled labels), one per scene, in [0, 1]) the two
    maps side by side, each over the scene. Alike pairs mean the map shows the scene, not what
    the network learned."""
    text = merge_labels(labels)
    if any(len(pair[0]) != len(scenes) or len(pair[1]) != len(scenes) for pair in maps.values()):
        raise ValueError("one map per scene and network")
    tile, gap, head_h, caption_h = 84, 10, 38, 18
    columns = 1 + 2 * len(maps)
    width = tile * columns + gap * len(maps)
    grid = Image.new("RGB", (width, head_h + len(scenes) * (tile + caption_h)), "white")
    draw = ImageDraw.Draw(grid)

    def centred(x: float, y: float, words: str, size: int = 11) -> None:
        font = pil_font(size, words)
        draw.text((x - draw.textlength(words, font=font) / 2, y), words, fill="black", font=font)

    starts = [tile + gap + k * (2 * tile + gap) for k in range(len(maps))]
    centred(tile / 2, head_h - 16, text["trust_scene"])
    for x, name in zip(starts, maps):
        centred(x + tile, 2, name, 12)
        centred(x + tile / 2, head_h - 16, text["trust_true_labels"], 10)
        centred(x + 1.5 * tile, head_h - 16, text["trust_permuted_labels"], 10)
    scale = attribution_scale(False, labels=labels)
    for row, (scene, label) in enumerate(zip(scenes, classes)):
        y = head_h + row * (tile + caption_h)
        big = scene.convert("RGB").resize((tile, tile), Image.Resampling.NEAREST)  # 32 px: show the pixels
        grid.paste(big, (0, y))
        centred(tile / 2, y + tile + 2, label, 10)
        for k, (true_maps, permuted_maps) in enumerate(maps.values()):
            for j, unit in enumerate((true_maps[row], permuted_maps[row])):
                grid.paste(overlay(big, np.asarray(unit), opacity=0.6, cmap=scale.cmap, lo=0.0, hi=1.0),
                           (starts[k] + j * tile, y))
    return annotate(grid, title=title or text["trust_data_title"], scale=scale)
