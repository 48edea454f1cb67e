"""RFC 8941 structured fields, the subset RFC 9421 needs: dictionaries of inner lists with parameters.

Strict on purpose: a ``Signature-Input`` or ``Signature`` header that is not well formed is refused
(``SFError``) rather than guessed at, since what it covers decides what the signature proves.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any


class SFError(ValueError):
    pass


class Token(str):
    """An sf-token, kept apart from an sf-string so it serializes back unquoted."""


_SF_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_SF_NUMBER = re.compile(r"-?([0-9]{1,15})(\.[0-9]{1,3})?")
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")
_SF_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_SF_UNESCAPE = re.compile(r"\\(.)")
_OWS = re.compile(r"[ \t]*")
_SP = re.compile(r" *")


def _skip(blanks: re.Pattern[str], s: str, pos: int) -> int:
    m = blanks.match(s, pos)
    return m.end() if m else pos


def _sf_bare(s: str, pos: int) -> tuple[Any, int]:
    c = s[pos] if pos < len(s) else ""
    if c == '"':
        m = _SF_STRING.match(s, pos)
        if m is None:
            raise SFError("bad string")
        text = m.group(1)
        return (_SF_UNESCAPE.sub(r"\1", text) if "\\" in text else text), m.end()
    if c == ":":
        m = _SF_BYTES.match(s, pos)
        if m is None:
            raise SFError("bad byte sequence")
        b64 = m.group(1)
        try:  # RFC 8941 §4.2.7: missing padding is tolerated
            return base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True), m.end()
        except ValueError:
            raise SFError("bad byte sequence") from None
    if c == "?":
        flag = s[pos + 1:pos + 2]
        if flag not in ("0", "1"):
            raise SFError("bad boolean")
        return flag == "1", pos + 2
    m = _SF_NUMBER.match(s, pos)
    if m is not None:
        if m.group(2) is None:
            return int(m.group()), m.end()
        if len(m.group(1)) > 12:
            raise SFError("decimal too long")
        return float(m.group()), m.end()
    m = _SF_TOKEN.match(s, pos)
    if m is not None:
        return Token(m.group()), m.end()
    raise SFError("bad item")


def _sf_params(s: str, pos: int) -> tuple[dict[str, Any], int]:
    params: dict[str, Any] = {}
    n = len(s)
    while pos < n and s[pos] == ";":
        m = _SF_KEY.match(s, _skip(_SP, s, pos + 1))
        if m is None:
            raise SFError("bad parameter key")
        key, pos = m.group(), m.end()
        if key in params:  # stricter than RFC 8941 (which keeps the last): a repeated signed parameter is suspect
            raise SFError("repeated parameter")
        if pos < n and s[pos] == "=":
            params[key], pos = _sf_bare(s, pos + 1)
        else:
            params[key] = True
    return params, pos


def _sf_member(s: str, pos: int) -> tuple[tuple[Any, dict[str, Any]], int]:
    """An item or an inner list, each with its parameters."""
    if not s.startswith("(", pos):
        value, pos = _sf_bare(s, pos)
        params, pos = _sf_params(s, pos)
        return (value, params), pos
    items: list[tuple[Any, dict[str, Any]]] = []
    pos += 1
    while True:
        pos = _skip(_SP, s, pos)
        if s.startswith(")", pos):
            params, pos = _sf_params(s, pos + 1)
            return (items, params), pos
        value, pos = _sf_bare(s, pos)
        item_params, pos = _sf_params(s, pos)
        items.append((value, item_params))
        if not s.startswith((" ", ")"), pos):
            raise SFError("bad inner list")


def parse_dictionary(text: str) -> dict[str, tuple[Any, dict[str, Any]]]:
    """RFC 8941 §4.2.2, strict: a repeated key is refused rather than silently replaced."""
    s = text.strip(" ")
    result: dict[str, tuple[Any, dict[str, Any]]] = {}
    pos, n = 0, len(s)
    while pos < n:
        m = _SF_KEY.match(s, pos)
        if m is None:
            raise SFError("bad key")
        key, pos = m.group(), m.end()
        if s.startswith("=", pos):
            member, pos = _sf_member(s, pos + 1)
        else:
            params, pos = _sf_params(s, pos)
            member = (True, params)
        if key in result:
            raise SFError("repeated key")
        result[key] = member
        pos = _skip(_OWS, s, pos)
        if pos < n:
            if s[pos] != ",":
                raise SFError("expected a comma")
            pos = _skip(_OWS, s, pos + 1)
            if pos == n:
                raise SFError("trailing comma")
    return result


def _sf_ser_bare(value: Any) -> str:
    if value is True or value is False:
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode() + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sf_ser_params(params: Mapping[str, Any]) -> str:
    return "".join(f";{k}" if v is True else f";{k}={_sf_ser_bare(v)}" for k, v in params.items())


def serialize_inner_list(items: list[tuple[Any, dict[str, Any]]], params: Mapping[str, Any]) -> str:
    return "(" + " ".join(_sf_ser_bare(v) + _sf_ser_params(p) for v, p in items) + ")" + _sf_ser_params(params)
