"""Player names: one normal form, a key under which look-alikes collide, and mixed scripts refused.

A name travels in join tokens to the game's "Join ... as <name>?" prompt, so two players must not
be able to look alike there. A name is kept in NFKC with its whitespace trimmed and collapsed
(`normal_form`); names are unique by `name_key`, the Unicode TS #39 skeleton of the casefolded
normal form, under which `alice`, `ALICE`, its full-width form and `alice` with a Cyrillic `a` are one;
and a new name is refused (`look_alike_problem`) when it mixes scripts beyond TS #39's "highly
restrictive" level (Latin with Cyrillic; Latin with Han and kana is fine), carries invisible
characters, or mixes digits of several systems. The skeletons and checks are ICU's
`SpoofChecker` (through PyICU), the reference implementation of TS #39.
"""

from __future__ import annotations

import unicodedata

import icu

_CHECKS = icu.USpoofChecks.RESTRICTION_LEVEL | icu.USpoofChecks.INVISIBLE | icu.USpoofChecks.MIXED_NUMBERS
_PROBLEMS = (
    (icu.USpoofChecks.RESTRICTION_LEVEL, "mixes letters of scripts that look alike (Latin and Cyrillic)"),
    (icu.USpoofChecks.INVISIBLE, "has invisible or repeated combining characters"),
    (icu.USpoofChecks.MIXED_NUMBERS, "mixes digits of different number systems"),
)


def _checker() -> icu.SpoofChecker:
    checker = icu.SpoofChecker()
    checker.setChecks(_CHECKS)
    checker.setRestrictionLevel(icu.URestrictionLevel.HIGHLY_RESTRICTIVE)
    return checker


_SPOOF = _checker()


def normal_form(name: str) -> str:
    """`name` as the lobby keeps and shows it: NFKC, whitespace trimmed and collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def name_key(name: str) -> str:
    """The key names are unique by: the TS #39 skeleton of the casefolded normal form."""
    return str(_SPOOF.getSkeleton(0, normal_form(name).casefold()))


def legacy_name_key(name: str) -> str:
    """The key names had before `name_key`: the casefold of the name exactly as typed.

    A name stored then whose `name_key` another, older name already holds keeps this key, and its
    player still logs in by typing it exactly; a lookup tries this key first, then `name_key`.
    """
    return name.casefold()


def look_alike_problem(name: str) -> str | None:
    """Why a new name (in normal form) may be mistaken for another, or None when it is acceptable."""
    found = _SPOOF.check(name)
    for flag, problem in _PROBLEMS:
        if found & flag:
            return problem
    return None
