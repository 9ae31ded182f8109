"""Opt-out keywords in SMS replies (CTIA / carrier guidance, TCPA revocation "by any reasonable means")."""

from __future__ import annotations

import re

OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "END", "QUIT", "CANCEL", "UNSUBSCRIBE", "REVOKE", "OPT OUT", "OPTOUT"})

_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_SPACES = re.compile(r"\s+")


def is_opt_out(text: str) -> bool:
    """True when the whole reply is an opt-out keyword: "stop", "Stop!", " OPT-OUT. ", "opt out"."""
    word = _PUNCTUATION.sub("", text.strip())
    word = _SPACES.sub(" ", word.replace("-", " ")).upper()
    return word in OPT_OUT_KEYWORDS
