"""Korean particles that fit the word before them.

A Korean particle depends on whether the syllable before it ends in a consonant (받침): 채널 5**가**
but 채널 3**이**, 가림 실험 (Occlusion)**은**. A template cannot know the value it will hold, so it
writes the particle both ways, the usual way in Korean software: ``{value}(이)가``, ``(을)를``,
``(은)는``, ``(과)와``, ``(으)로``, ``(이)에요``... :func:`fit_particles` then keeps the form that fits
the character before it: a Hangul syllable by its final consonant, a digit or Latin letter by
how it is read aloud in Korean (3 = 삼, ends in ㅁ; 5 = 오, no final consonant; an English word
ends in one after an l, m, n, ng, k, p, t or b sound), and a closing bracket or quote by the word
inside it (``(Occlusion)`` is read as the English word). A pair after a space, or after a
character that says nothing, keeps both forms. Text without such a pair is unchanged.
"""

from __future__ import annotations

import re

__all__ = ["fit_particles", "has_final_consonant"]

# (form after a consonant, form after a vowel); (으)로 after ㄹ is 로, handled below.
_PAIRS = {"이가": ("이", "가"), "을를": ("을", "를"), "은는": ("은", "는"), "과와": ("과", "와"), "으로": ("으로", "로"),
          "이에요": ("이에요", "예요"), "이나": ("이나", "나"), "이랑": ("이랑", "랑"), "아야": ("아", "야")}
_PATTERN = re.compile(r"(?P<before>.?)\((?P<first>이|을|은|과|으|아)\)(?P<second>가|를|는|와|로|에요|나|랑|야)")
_DIGIT_FINAL = {"0": True, "1": True, "2": False, "3": True, "4": False, "5": False, "6": True, "7": True, "8": True, "9": False}
# English words read in Korean: a final consonant when they end in one of these sounds.
# (A final d or g is read as a syllable of its own, 드 and 그: no final consonant.)
_LATIN_FINAL = re.compile(r"(?:[lmnkpt]|ng|ck|b)$", re.IGNORECASE)
_HANGUL_START, _HANGUL_END = 0xAC00, 0xD7A3


def _syllable_final(char: str) -> tuple[bool, bool] | None:
    """(has a final consonant, that consonant is ㄹ) for a Hangul syllable, else None."""
    code = ord(char)
    if not _HANGUL_START <= code <= _HANGUL_END:
        return None
    final = (code - _HANGUL_START) % 28
    return final != 0, final == 8  # 8 is ㄹ


def has_final_consonant(text: str) -> bool | None:
    """Whether ``text`` ends, as read aloud in Korean, in a consonant; None if it cannot tell."""
    word = text.rstrip()
    while word and word[-1] in ")]}'\"»”’":  # a bracket or quote: the word inside it decides
        word = word[:-1].rstrip()
    if not word:
        return None
    last = word[-1]
    syllable = _syllable_final(last)
    if syllable is not None:
        return syllable[0]
    if last in _DIGIT_FINAL:
        return _DIGIT_FINAL[last]
    latin = re.search(r"[A-Za-z]+$", word)
    if latin:
        return bool(_LATIN_FINAL.search(latin.group(0)))
    return None


def _ends_in_rieul(text: str) -> bool:
    word = text.rstrip().rstrip(")]}'\"")
    if not word:
        return False
    syllable = _syllable_final(word[-1])
    return (syllable is not None and syllable[1]) or word[-1] in "178" or bool(re.search(r"l$", word, re.IGNORECASE))


def fit_particles(text: str) -> str:
    """``text`` with each particle written both ways (``(이)가``) replaced by the form that fits."""
    if "(" not in text:
        return text

    def fit(match: re.Match) -> str:
        before = text[: match.start("before") + len(match.group("before"))]
        if not before or before[-1].isspace():
            return match.group(0)
        pair = _PAIRS.get(match.group("first") + match.group("second"))
        if pair is None:
            return match.group(0)
        final = has_final_consonant(before)
        if final is None:
            return match.group(0)  # nothing to read: keep both forms, which is still correct Korean
        after_consonant, after_vowel = pair
        if pair[0] == "으로" and _ends_in_rieul(before):
            return match.group("before") + "로"  # ㄹ takes 로, like a vowel
        return match.group("before") + (after_consonant if final else after_vowel)

    return _PATTERN.sub(fit, text)
