"""Referral codes and sub-link labels: their alphabet, shape and parsing."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from bot.services.inputs import ascii_lower

# No 0/o, 1/l/i: codes get read aloud and typed from screenshots.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 8
# Always used with fullmatch: `$` would also match before a trailing newline.
CODE_RE = re.compile(rf"[{ALPHABET}]{{{CODE_LENGTH}}}")
LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
LABEL_MAX = 32
# Telegram deep-link payloads: 1-64 characters of A-Z a-z 0-9 _ -
PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def read_code(raw: str) -> str | None:
    """A link code as a URL or a machine sends it (any case), or None."""
    code = ascii_lower(raw)
    return code if code is not None and CODE_RE.fullmatch(code) else None


def check_label(raw: str) -> str | None:
    """A label exactly as we hand it out (any case), from a URL, a postback or a button."""
    label = ascii_lower(raw)
    return label if label is not None and LABEL_RE.fullmatch(label) else None


def normalize_label(raw: str) -> str | None:
    """A label a person typed (spaces and underscores become dashes, surrounding whitespace
    dropped), as stored: lowercase, a-z 0-9 and inner dashes, 1-32 characters; or None."""
    return check_label(raw.strip().replace(" ", "-").replace("_", "-"))


@dataclass(frozen=True, slots=True)
class Payload:
    code: str
    sub: str | None


def parse_payload(raw: str | None) -> Payload | None:
    """`CODE` or `CODE_label` from /start; None for anything that is not one of ours."""
    if not raw or not PAYLOAD_RE.fullmatch(raw):
        return None
    head, _, sub = raw.partition("_")
    code = read_code(head)
    if code is None:
        return None
    if not sub:
        return Payload(code, None)
    label = normalize_label(sub)
    return Payload(code, label) if label else None


def start_payload(code: str, sub: str | None) -> str:
    return f"{code}_{sub}" if sub else code
