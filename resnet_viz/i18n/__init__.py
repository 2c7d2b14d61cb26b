"""Every word the explorer shows, one catalogue per language: ``resnet_viz/i18n/<lang>.json``.

Code holds keys; each catalogue maps every key to its text, with ``{placeholders}`` that
:func:`tr` fills in. English (``en.json``) is the reference: every catalogue has exactly its keys
and placeholders (``tests/test_i18n.py``), and a text missing in a language falls back to it.
Adding a language is adding one file; :func:`language` then offers it to browsers that ask for it.

Static texts go to the browser through ``gr.I18n`` (:data:`STRINGS`) and follow its language;
texts the server writes (status line, banner, chart words, messages) are picked with
:func:`language` from the request's Accept-Language header. Korean particles after an inserted
value are chosen by the value's last syllable (:mod:`.particles`).

Imports from: nothing else in resnet_viz.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .particles import fit_particles

__all__ = ["LANGUAGES", "STRINGS", "UserError", "catalogue_words", "chart_labels", "image_error", "language", "load_catalogues", "tr"]

FOLDER = Path(__file__).resolve().parent


def load_catalogues(folder: Path = FOLDER) -> dict[str, dict[str, str]]:
    """Every ``<lang>.json`` in ``folder``: language code -> {key: text}, English first."""
    catalogues = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}
    if "en" not in catalogues:
        raise FileNotFoundError(f"no English catalogue (en.json) in {folder}: it is every other language's reference")
    return {"en": catalogues.pop("en"), **catalogues}


STRINGS: dict[str, dict[str, str]] = load_catalogues()
LANGUAGES: tuple[str, ...] = tuple(STRINGS)
EN = STRINGS["en"]


def language(accept_language: str | None, languages: tuple[str, ...] = LANGUAGES) -> str:
    """The language of ``languages`` the browser's Accept-Language prefers (English if none)."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if code in languages and q > best_q:
            best, best_q = code, q
    return best


def tr(key: str, lang: str = "en", /, **values: Any) -> str:
    """The text for ``key`` in ``lang`` (English when missing), with ``values`` filled in and any
    particle written both ways ("(이)가") fitted to the word before it."""
    text = STRINGS.get(lang, EN).get(key, EN[key])
    if values:
        text = text.format(**values)
    return fit_particles(text)


def catalogue_words(prefix: str, lang: str = "en") -> dict[str, str]:
    """The texts of every key that starts with ``prefix``, keyed without it (the words of one chart)."""
    return {key[len(prefix):]: tr(key, lang) for key in EN if key.startswith(prefix)}


def chart_labels(lang: str, hangul_available: bool) -> Mapping[str, str]:
    """Chart labels for ``lang``; English when no installed font can draw Hangul."""
    if lang == "ko" and not hangul_available:
        lang = "en"
    return catalogue_words("chart_", lang)


class UserError(ValueError):
    """Something the visitor (or a library caller) can fix, as a catalogue key and its values.

    ``str(error)`` is the text in the language it was raised in (English unless the raiser knew
    the visitor's); the app shows :meth:`text` in each request's language. A value that has a
    ``text(lang)`` of its own (an ImageError's reason, another UserError) is said in that language
    too. A ValueError, so library callers that catch those keep working; anything else that goes
    wrong is a bug, which the app logs and shows as a generic error.
    """

    # key and lang are positional-only, so a template may have a {key} or {lang} placeholder of its own
    def __init__(self, key: str, lang: str = "en", /, **values: Any) -> None:
        if key not in EN:
            raise KeyError(f"no catalogue text for {key!r}")
        self.key, self.lang, self.values = key, lang, values
        super().__init__(self.text(lang))

    def text(self, lang: str = "en") -> str:
        values = {name: value.text(lang) if callable(getattr(value, "text", None)) else value for name, value in self.values.items()}
        return tr(self.key, lang, **values)

    def __reduce__(self):  # picklable (a slow run's error may cross a process) despite the keyword values
        return _user_error, (type(self), self.key, self.lang, self.values)


def _user_error(cls: type, key: str, lang: str, values: dict[str, Any]) -> UserError:
    error = UserError.__new__(cls)
    UserError.__init__(error, key, lang, **values)
    return error


def image_error(exc: UserError, lang: str) -> str:
    """Why an image was refused (an ImageError), in ``lang``; English keeps Pillow's own detail."""
    return exc.text(lang)
