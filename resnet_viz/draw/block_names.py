"""Block names in the seed's vocabulary: C2.1, C2.2, ... beside torchvision's layer1.0, layer1.1.

The seed document names a block by its stage and its 1-based place in that stage; torchvision
(and the checkpoints) by ``layer<k>.<i>``. Charts label their x axis with the seed names and the
app shows :func:`block_table` beside them, so the torchvision name is one look away.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from .labels import merge_labels

__all__ = ["block_names", "block_table", "seed_names"]


def seed_names(rows: Sequence[Mapping]) -> list[str]:
    """``"<stage>.<n>"`` for rows in forward order, ``n`` counting from 1 within each run of a stage.

    Derived from the rows' ``stage`` values and their order, so any depth (ResNet-18's 8 blocks,
    ResNet-152's 50) and any stage table works.
    """
    names: list[str] = []
    previous, count = None, 0
    for i, row in enumerate(rows):
        try:
            stage = str(row["stage"])
        except KeyError:
            raise ValueError(f"row {i} has no 'stage' value") from None
        count = count + 1 if stage == previous else 1
        previous = stage
        names.append(f"{stage}.{count}")
    return names


def block_names(rows: Sequence[Mapping]) -> list[tuple[str, str, str]]:
    """(seed name, torchvision name, kind) per row, e.g. ("C3.1", "layer2.0", "convolution")."""
    return [
        (seed, str(row.get("name", "")), str(row.get("kind", "identity")))
        for seed, row in zip(seed_names(rows), rows)
    ]


def block_table(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> dict[str, list]:
    """:func:`block_names` as ``{"headers": [...], "data": [[...], ...]}`` for a table component,
    with translated headers and kinds (``labels`` as for the charts)."""
    text = merge_labels(labels)
    headers = [text["block_col_seed"], text["block_col_torchvision"], text["block_col_kind"]]
    kinds = {"identity": text["identity"], "convolution": text["convolution"]}
    return {"headers": headers, "data": [[seed, name, kinds.get(kind, kind)] for seed, name, kind in block_names(rows)]}
