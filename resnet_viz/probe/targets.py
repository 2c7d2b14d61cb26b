"""Which class an explanation is about: an index, a label, or None for the top-1 prediction."""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch
from torch import Tensor

from ..i18n import UserError

__all__ = ["Target", "TargetError", "match_target", "resolve_target", "target_info"]

Target = int | str | None


def resolve_target(model: torch.nn.Module, target: Target, logits: Tensor | None) -> int:
    """The class index for ``target``; ``logits`` (num_classes,) decide the top-1 when it is None."""
    categories = model.meta.categories
    if target is None:
        if logits is None:
            raise ValueError("target=None needs the image's logits to find the top-1 class")
        return int(logits.argmax())
    if isinstance(target, bool):  # bool is an int subclass; True is not a class
        raise UserError("error_unknown_target", target=repr(target), last=len(categories) - 1)
    if isinstance(target, int) or (isinstance(target, Tensor) and target.numel() == 1):
        index = int(target)
        if 0 <= index < len(categories):
            return index
        raise UserError("error_unknown_target", target=index, last=len(categories) - 1)
    if isinstance(target, str):
        wanted = target.strip().lower()
        for index, label in enumerate(categories):
            if label.lower() == wanted:
                return index
        index = _as_index(wanted)
        if index is not None:
            return resolve_target(model, index, logits)
    raise UserError("error_unknown_target_label", target=repr(target), last=len(categories) - 1, example=repr(categories[281]))


def target_info(model: torch.nn.Module, logits: Tensor, index: int) -> dict[str, Any]:
    """{"index", "label", "probability"} of one class under (num_classes,) logits."""
    probability = torch.softmax(logits.double(), dim=-1)[index].item()
    return {"index": index, "label": model.meta.categories[index], "probability": probability}


class TargetError(ValueError):
    """A target text that names no class (or several); ``code`` and ``candidates`` let the app say
    it in the visitor's language."""

    def __init__(self, message: str, code: str, query: str, candidates: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code, self.query, self.candidates = code, query, candidates


def _as_index(text: str) -> int | None:
    """The whole number ``text`` spells in decimal digits, else None. (``str.isdigit`` also accepts
    "²", which ``int`` refuses; a class index never needs 19 digits.)"""
    return int(text) if text.isdecimal() and len(text) < 19 else None


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower().replace("-", " ")))


def match_target(categories: Sequence[str], query: str) -> int:
    """The class a person means by ``query``: an index, a label in any case, or words such as
    "tabby cat" for "tabby" (every word of the label is in the query) or "golden" for "golden
    retriever" (the only label holding every word of the query)."""
    text = query.strip()
    index = _as_index(text)
    if index is not None and index < len(categories):
        return index
    if any("\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e" for ch in text):
        raise TargetError(f"class names are English ImageNet labels; {text!r} is not one", "hangul", text)
    lowered = [label.lower() for label in categories]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    query_words = _words(text)
    if not query_words:
        raise TargetError(f"unknown target {text!r}", "unknown", text)
    # Labels all of whose words were typed ("tabby cat" -> "tabby"); the most specific wins.
    inside = [(len(_words(label)), i) for i, label in enumerate(categories) if _words(label) and _words(label) <= query_words]
    if inside:
        best = max(size for size, _ in inside)
        found = [i for size, i in inside if size == best]
        if len(found) == 1:
            return found[0]
    # Labels holding every typed word ("golden" -> "golden retriever").
    holding = [i for i, label in enumerate(categories) if query_words <= _words(label)]
    if len(holding) == 1:
        return holding[0]
    if holding:
        names = tuple(categories[i] for i in holding[:8])
        raise TargetError(f"{text!r} fits several classes: {', '.join(names)}", "ambiguous", text, names)
    raise TargetError(f"unknown target {text!r}; type an ImageNet label such as 'tabby' or 'golden retriever'", "unknown", text)
