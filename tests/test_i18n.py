"""Every word comes from one catalogue per language: the same keys and placeholders in each, Korean
particles that fit the value before them, and no page text written in code outside the catalogue."""

from __future__ import annotations

import ast
import json
import re
import shutil
import string
from pathlib import Path

import pytest

from resnet_viz.degradation.chart import DEGRADATION_LABELS
from resnet_viz.draw.labels import DEFAULT_LABELS
from resnet_viz.i18n import FOLDER, LANGUAGES, STRINGS, UserError, language, load_catalogues, tr
from resnet_viz.i18n.particles import fit_particles, has_final_consonant

from .support import ROOT

EN = STRINGS["en"]


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_language_has_exactly_the_english_keys_and_placeholders(lang):
    table = STRINGS[lang]
    assert set(table) == set(EN), f"{lang}: missing {sorted(set(EN) - set(table))}, extra {sorted(set(table) - set(EN))}"
    wrong = {key: (placeholders(EN[key]), placeholders(text)) for key, text in table.items() if placeholders(text) != placeholders(EN[key])}
    assert not wrong, f"{lang}: placeholders differ from English: {wrong}"


def test_the_catalogues_are_plain_json_files_one_per_language():
    files = sorted(p.stem for p in FOLDER.glob("*.json"))
    assert tuple(files) == tuple(sorted(LANGUAGES)) and LANGUAGES[0] == "en"
    for path in FOLDER.glob("*.json"):
        table = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in table.items()), path


def test_a_third_language_is_one_more_file(tmp_path):
    folder = tmp_path / "i18n"
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    french = {key: f"[fr] {text}" for key, text in EN.items()}
    (folder / "fr.json").write_text(json.dumps(french, ensure_ascii=False), encoding="utf-8")
    catalogues = load_catalogues(folder)
    assert list(catalogues)[0] == "en" and "fr" in catalogues and "ko" in catalogues
    assert language("fr-FR,fr;q=0.9,en;q=0.5", tuple(catalogues)) == "fr"
    assert language("fr-FR", LANGUAGES) == "en"  # a language without a file falls back to English


def test_charts_take_their_words_from_the_catalogue():
    assert DEFAULT_LABELS == {key[len("chart_"):]: text for key, text in EN.items() if key.startswith("chart_")}
    assert DEGRADATION_LABELS == {key[len("dchart_"):]: text for key, text in EN.items() if key.startswith("dchart_")}


def test_method_names_are_catalogue_entries():
    from resnet_viz.explain.methods import METHOD_SPECS

    for key, spec in METHOD_SPECS.items():
        for lang in LANGUAGES:
            assert spec.name(lang) == STRINGS[lang][f"method_{key}"]


# --- Korean particles ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fitted",
    [
        ("채널 5(이)가", "채널 5가"),  # 오: no final consonant
        ("채널 3(이)가", "채널 3이"),  # 삼
        ("채널 10(이)가", "채널 10이"),  # 십
        ("가림 실험 (Occlusion)(은)는", "가림 실험 (Occlusion)은"),  # the word in brackets decides
        ("Grad-CAM(은)는", "Grad-CAM은"),
        ("SmoothGrad(을)를", "SmoothGrad를"),  # "그래드": ends in a d sound read as 드
        ("스테이지(을)를", "스테이지를"),
        ("블록(을)를", "블록을"),
        ("C5(으)로", "C5로"),
        ("C3(으)로", "C3으로"),
        ("C1(으)로", "C1로"),  # 일: ㄹ takes 로
        ("레이어(과)와", "레이어와"),
        ("'tabby'(이)가", "'tabby'가"),  # 태비
        ("값 (이)가 없음", "값 (이)가 없음"),  # a space before the pair: nothing to read, both forms stay
    ],
)
def test_particles_fit_the_last_syllable_as_read_aloud(text, fitted):
    assert fit_particles(text) == fitted


def test_reading_the_end_of_a_word():
    assert has_final_consonant("채널") is True and has_final_consonant("스테이지") is False
    assert has_final_consonant("7") is True and has_final_consonant("9") is False
    assert has_final_consonant("…") is None


def test_every_korean_template_that_inserts_a_value_before_a_particle_writes_it_both_ways():
    """A particle right after an inserted value ("{channel}가") is correct for some values only:
    every Korean template writes such a particle both ways ("{channel}(이)가") or rephrases."""
    fixed = re.compile(r"\}(이|가|을|를|은|는|과|와|으로|로)(?=[\s.,!?:;)]|$)")
    wrong = {key: text for key, text in STRINGS["ko"].items() if fixed.search(text)}
    assert not wrong, wrong


@pytest.mark.parametrize("value, expected", [(5, "채널 5가"), (3, "채널 3이")])
def test_tr_fits_the_particles_after_filling_the_values(value, expected):
    import resnet_viz.i18n as i18n

    i18n.STRINGS["ko"]["_test_particle"] = "채널 {n}(이)가"
    i18n.EN["_test_particle"] = "channel {n}"
    try:
        assert tr("_test_particle", "ko", n=value) == expected
    finally:
        del i18n.STRINGS["ko"]["_test_particle"], i18n.EN["_test_particle"]


# --- one error type that carries its key ---------------------------------------------------------


def test_a_user_error_says_itself_in_every_language_and_pickles():
    import pickle

    error = UserError("error_unknown_method", method="'magic'", choices="gradcam")
    assert str(error) == "unknown method 'magic'; choose one of gradcam" and isinstance(error, ValueError)
    assert error.text("ko") == tr("error_unknown_method", "ko", method="'magic'", choices="gradcam")
    again = pickle.loads(pickle.dumps(error))
    assert (again.key, again.values, str(again)) == (error.key, error.values, str(error))
    with pytest.raises(KeyError):
        UserError("no_such_key")


# --- no page text in code ------------------------------------------------------------------------

WORDS = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}|[\uac00-\ud7a3]")


def _words_in_code(path: Path) -> list[str]:
    """String constants with words in them, other than docstrings, log lines and exceptions'
    messages (for developers and logs; what a visitor reads comes from UserError's key)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            is_super_init = name == "__init__" and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
            if owner in ("log", "logging") or name.endswith(("Error", "Exception", "Exceeded", "Costly")) or is_super_init:
                skip.update(id(sub) for sub in ast.walk(node))
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip and WORDS.search(node.value)
    ]


def test_no_page_text_is_written_in_code():
    rooms = [ROOT / "resnet_viz" / "ui", ROOT / "resnet_viz" / "serve"]
    found = [line for room in rooms for path in sorted(room.glob("*.py")) for line in _words_in_code(path)]
    assert not found, "words in code, not in resnet_viz/i18n/<lang>.json:\n" + "\n".join(found)
