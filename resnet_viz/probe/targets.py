"""Which class an explanation is about: an index, a label, or None for the top-1 prediction."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from ..i18n import UserError

__all__ = ["Target", "TargetError", "TargetMatch", "find_target", "match_target", "resolve_target", "suggestions", "target_info"]

# How alike (difflib ratio) a misspelt label must be to be taken, with a notice: "tabyy" for "tabby".
CLOSE_SPELLING = 0.85  # 0.8 would read "rocket" as "racket"

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


@dataclass(frozen=True)
class TargetMatch:
    """The class a typed text was read as; ``exact`` is False when it was a guess (a prefix, the
    label's words inside the text, or a close spelling), which the page then names."""

    index: int
    exact: bool


def match_target(categories: Sequence[str], query: str) -> int:
    """The class index ``query`` means (see :func:`find_target`)."""
    return find_target(categories, query).index


def find_target(categories: Sequence[str], query: str) -> TargetMatch:
    """The class a person means by ``query``. Exactly: an index or a label in any case. Else a guess,
    in this order, taken only when it is the only one of its kind: the label whose first words
    ``query`` is ("golden" -> "golden retriever"); the most specific label whose words are all in the query and
    make up at least half of its words ("tabby cat" -> "tabby", but "zebra crossing xyz" is not
    "zebra"); the label holding every typed word; the closest spelling (difflib on the plain label
    strings: nothing typed is ever made a pattern). Otherwise a TargetError with close labels."""
    text = query.strip()
    index = _as_index(text)
    if index is not None and index < len(categories):
        return TargetMatch(index, True)
    if any("\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e" for ch in text):
        raise TargetError(f"class names are English ImageNet labels; {text!r} is not one", "hangul", text)
    lowered = [label.lower() for label in categories]
    wanted = text.lower()
    if wanted in lowered:
        return TargetMatch(lowered.index(wanted), True)
    query_words = _words(text)
    if not query_words:
        raise TargetError(f"unknown target {text!r}", "unknown", text)
    starting = [i for i, label in enumerate(lowered) if label.startswith(wanted + " ")]  # whole words: "cat" is no "catamaran"
    if len(starting) == 1:
        return TargetMatch(starting[0], False)
    # Labels all of whose words were typed, and at least half of what was typed.
    label_words = [_words(label) for label in categories]
    inside = [(len(w), i) for i, w in enumerate(label_words) if w and w <= query_words and 2 * len(w) >= len(query_words)]
    if inside:
        best = max(size for size, _ in inside)
        found = [i for size, i in inside if size == best]
        if len(found) == 1:
            return TargetMatch(found[0], False)
    holding = [i for i, w in enumerate(label_words) if query_words <= w]
    if len(holding) == 1:
        return TargetMatch(holding[0], False)
    if holding:
        names = tuple(categories[i] for i in holding[:8])
        raise TargetError(f"{text!r} fits several classes: {', '.join(names)}", "ambiguous", text, names)
    close = difflib.get_close_matches(wanted, lowered, n=2, cutoff=CLOSE_SPELLING)
    if len(close) == 1 or (close and _similarity(wanted, close[0]) - _similarity(wanted, close[1]) > 0.05):
        return TargetMatch(lowered.index(close[0]), False)
    near = [i for i, w in enumerate(label_words) if w & query_words]  # "zebra crossing xyz": zebra
    near += [lowered.index(label) for label in difflib.get_close_matches(wanted, lowered, n=5, cutoff=0.6)]
    names = tuple(dict.fromkeys(categories[i] for i in near))[:5]
    code = "unknown_close" if names else "unknown"
    raise TargetError(f"unknown target {text!r}; close: {', '.join(names) or 'none'}", code, text, names)


def suggestions(categories: Sequence[str], query: str, limit: int = 8) -> list[int]:
    """Classes worth offering while ``query`` is typed (for a menu that only matches substrings):
    what :func:`find_target` would choose or list, then labels of similar spelling."""
    text = query.strip()
    if not text:
        return []
    try:
        found = [find_target(categories, text).index]
    except TargetError as exc:
        found = [list(categories).index(name) for name in exc.candidates]
    lowered = [label.lower() for label in categories]
    for label in difflib.get_close_matches(text.lower(), lowered, n=limit, cutoff=0.6):
        if lowered.index(label) not in found:
            found.append(lowered.index(label))
    return found[:limit]


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()
