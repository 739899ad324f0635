"""Keeping secrets out of recordings, reports, output files and screens.

Serving profiles carry environment variable names, never values; URLs may carry credentials
(``http://user:token@host``) or tokens in their query; a container's command line may carry
``--api-key``; metadata dictionaries may carry keys that look like secrets; a server may echo the API
key it was sent back in an error message. All of those are replaced before anything is written or
shown: ``redact_url`` for a target on display, ``redact_text`` for free text (an error message, a
table) and ``redact_document`` for a document written to a file, each also masking the values this
process was told to keep secret (``keep_secret``: the API key it sends).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import orjson

from sparktop.model import TargetInfo

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(?:^|[^a-z0-9])(?:[a-z0-9]*token|secret|passw(?:or)?d|api[_-]?key|o?auth|authori[sz]ation|authentication|credentials?|bearer|"
    r"(?:access|private|secret|ssh)[_-]?key|key)(?:$|[^a-z0-9])",
    re.IGNORECASE,
)
"""A secret-looking name: ``HF_TOKEN``, ``api_key``, ``x-api-key``, ``password``, ``Authorization``...
Whole words only, so ``max_tokens`` or ``tokenizer`` (figures and settings worth keeping) are not."""


def looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def argv_secrets(argv: Sequence[str]) -> list[str]:
    """The values of secret-looking options on a command line (``--api-key X``, ``--hf-token=X``)."""
    found: list[str] = []
    for shown, given in zip(redact_argv(argv), argv, strict=True):
        if shown != given:
            found.append(given.split("=", 1)[1] if shown.endswith("=" + REDACTED) else given)
    return found


def redact_argv(argv: Sequence[str], mask: str = REDACTED) -> list[str]:
    """A command line with the values of secret-looking options replaced (``--api-key X``,
    ``--hf-token=X``)."""
    out: list[str] = []
    hide = False
    for arg in argv:
        if hide:
            out.append(mask)
            hide = False
        elif arg.startswith("-") and "=" in arg and looks_secret(arg.split("=", 1)[0].lstrip("-")):
            out.append(arg.split("=", 1)[0] + "=" + mask)
        else:
            hide = arg.startswith("-") and looks_secret(arg.lstrip("-"))
            out.append(arg)
    return out


def redact_url(url: str) -> str:
    """The URL without user:password and with secret-looking query values replaced; a URL with
    neither comes back exactly as given."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    """``token=abc`` -> ``token=[redacted]``; any other query pair exactly as given."""
    name, sep, _ = pair.partition("=")
    return f"{name}={REDACTED}" if sep and looks_secret(unquote_plus(name)) else pair


def redact_target(target: TargetInfo) -> TargetInfo:
    return replace(target, label=redact_url(target.label))


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with values under secret-looking keys replaced (recursively)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if looks_secret(str(key)) and not isinstance(value, (Mapping, list)):
            out[key] = REDACTED
        elif isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif isinstance(value, list):
            out[key] = [redact_mapping(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------------------------------
# free text and output documents

MIN_SECRET_CHARS = 4
"""Shorter values are not masked in free text: they would blank out ordinary words and figures."""

_known: set[str] = set()

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
"""A URL inside free text (an error message, a JSON document): it ends at a space or a quote."""
_USERINFO = re.compile(r"(?<![\w/@:.%-])[^\s'\"<>`/@:\[\]]+:[^\s'\"<>`/@]+@(?=[\w\[])")
"""``user:password@`` before a host, outside a URL with a scheme (``user:pw@host:8000``)."""
_QUERY_PAIR = re.compile(r"(?<=[?&])([\w.%+-]+)=([^&\s'\"<>`#]*)")
"""``name=value`` in a query outside a URL with a scheme (``/?token=abc``, ``host:8000?key=x``)."""
_BEARER = re.compile(r"\b(Bearer)\s+(?!\[redacted\])[^\s'\",;)}\]]+", re.IGNORECASE)
"""A bearer token, as a server echoing the Authorization header shows it."""


def keep_secret(value: str | None) -> None:
    """Remember a secret this process sends (an API key): ``redact_text`` and ``redact_document``
    mask it wherever it shows up, a server's error message echoing it included."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _known.add(value)


def known_secrets() -> frozenset[str]:
    return frozenset(_known)


def mask(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each of ``secrets`` (long enough to mask) replaced."""
    for secret in sorted((s for s in secrets if s and len(s) >= MIN_SECRET_CHARS), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Free text with the secrets this process knows of (and ``secrets``) masked, URLs in it
    redacted (``redact_url``), bare ``user:password@host`` credentials, secret-looking query values
    and bearer tokens removed."""
    text = mask(text, [*_known, *secrets])
    text = _URL.sub(_redact_url_match, text)
    text = _USERINFO.sub(REDACTED + "@", text)
    text = _QUERY_PAIR.sub(_redact_pair_match, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _redact_pair_match(match: re.Match[str]) -> str:
    return _redact_pair(match.group(0))


def _redact_url_match(match: re.Match[str]) -> str:
    """A URL found in text, redacted; punctuation that ends the sentence around it kept apart."""
    url = match.group(0)
    stripped = url.rstrip(".,:;!?)]}")
    return redact_url(stripped) + url[len(stripped) :]


def redact_document(data: bytes, secrets: Iterable[str | None] = ()) -> bytes:
    """A document to write (JSON or XML, UTF-8) redacted as ``redact_text`` does free text; a
    secret is also found in its JSON-escaped form. A valid document stays valid: what replaces a
    secret holds no quote, backslash or markup."""
    values = [s for s in [*_known, *secrets] if s]
    escaped = [orjson.dumps(s).decode()[1:-1] for s in values]
    return redact_text(data.decode("utf-8", "replace"), [*values, *escaped]).encode()
