"""Korean particles (조사) fitted to the word before them: 경로 멜론이, 경로 default가.

``t()`` fits a particle written right after a field in a Korean message (``{route}이``,
``{name!r}를``) to the value filled in (``fit_particles``); ``josa`` does it for one word.
"""

from __future__ import annotations

import re
import string

# A particle's form depends on whether the word before it ends in a consonant (받침): 경로 멜론이,
# 경로 default가. The final sound of what is shown is read so:
#   - a Hangul syllable: its own final consonant (ㄹ matters for 으로/로);
#   - a digit, read the Sino-Korean way: 0 영, 1 일, 3 삼, 6 육, 7 칠, 8 팔 end in a consonant (1, 7, 8
#     in ㄹ); 2 이, 4 사, 5 오, 9 구 do not;
#   - Latin letters: a word of one to three capitals is spelled out (BTS 비티에스, IU 아이유): it ends
#     in a consonant when its last letter is L, M, N (엘 엠 엔) or R (알; ㄹ); any other word is read as a
#     loanword, which ends in a consonant only after -ng (ㅇ), -m (ㅁ), -n (ㄴ) or -l (ㄹ): seventeen
#     세븐틴이, default 디폴트가, melon 멜론이, ticketlink 티켓링크가;
#   - quotes, brackets and other marks at the end are skipped; a value ending in anything else (or
#     empty) keeps the paired form, 이(가).
PARTICLES: dict[str, tuple[str, str]] = {
    # either form (or the paired one) → (after a consonant, after a vowel)
    "이": ("이", "가"),
    "가": ("이", "가"),
    "이(가)": ("이", "가"),
    "을": ("을", "를"),
    "를": ("을", "를"),
    "을(를)": ("을", "를"),
    "은": ("은", "는"),
    "는": ("은", "는"),
    "은(는)": ("은", "는"),
    "과": ("과", "와"),
    "와": ("과", "와"),
    "과(와)": ("과", "와"),
    "으로": ("으로", "로"),
    "로": ("으로", "로"),
    "(으)로": ("으로", "로"),
}
_PAIRED = {"이": "이(가)", "을": "을(를)", "은": "은(는)", "과": "과(와)", "으로": "(으)로"}
_TRAILING_MARKS = "'\"`)]}>」』〉》.,!?…*"
_CONSONANT_DIGITS = {"0": "ㅇ", "1": "ㄹ", "3": "ㅁ", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ"}
_CONSONANT_LETTERS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}  # spelled-out capitals
_HANGUL_FINALS = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"


def final_sound(word: str) -> str | None:
    """The final consonant of ``word`` as read aloud in Korean (``""``: ends in a vowel; None: unknown)."""
    text = word.rstrip().rstrip(_TRAILING_MARKS).rstrip()
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        return _HANGUL_FINALS[(ord(last) - 0xAC00) % 28].strip()
    if last.isascii() and last.isdigit():
        return _CONSONANT_DIGITS.get(last, "")
    if not (last.isascii() and last.isalpha()):
        return None
    start = len(text)
    while start > 0 and text[start - 1].isascii() and text[start - 1].isalpha():
        start -= 1
    latin = text[start:]
    if latin.isupper() and len(latin) <= 3:
        return _CONSONANT_LETTERS.get(last.lower(), "")
    lower = latin.lower()
    if lower.endswith("ng"):
        return "ㅇ"
    return {"m": "ㅁ", "n": "ㄴ", "l": "ㄹ"}.get(lower[-1], "")


def josa(word: str, particle: str) -> str:
    """``word`` with ``particle`` (either form: 이/가, 을/를, 은/는, 과/와, 으로/로) fitted to it."""
    return word + particle_for(word, particle)


def particle_for(word: str, particle: str) -> str:
    after_consonant, after_vowel = PARTICLES[particle]
    final = final_sound(word)
    if final is None:
        return _PAIRED[after_consonant]
    if after_consonant == "으로":
        return "으로" if final and final != "ㄹ" else "로"
    return after_consonant if final else after_vowel


# a particle right after a field, ended by anything but another Hangul syllable (이다, 은행: no particle)
_PARTICLE_AFTER = re.compile(
    r"^(이\(가\)|을\(를\)|은\(는\)|과\(와\)|\(으\)로|으로|이|가|을|를|은|는|과|와|로)(?![가-힣])"
)


def fit_particles(template: str, fields: dict[str, object]) -> str:
    out: list[str] = []
    formatter = string.Formatter()
    pending_value: str | None = None
    for literal, name, spec, conversion in formatter.parse(template):
        if pending_value is not None:
            match = _PARTICLE_AFTER.match(literal)
            if match and final_sound(pending_value) is not None:
                literal = particle_for(pending_value, match.group(1)) + literal[match.end() :]
        out.append(literal)
        pending_value = None
        if name is None:
            continue
        value, _ = formatter.get_field(name, (), fields)
        value = formatter.convert_field(value, conversion)
        text = formatter.format_field(value, formatter.vformat(spec or "", (), fields))
        out.append(text)
        pending_value = text
    return "".join(out)
