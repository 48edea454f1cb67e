"""jsonschema documents shipped with fedi, and one way to turn a validation error into a short sentence.

Valid documents are recognised by the compiled check (``compiled``); ``jsonschema`` itself is imported only
when a document is refused and the refusal must be explained, which keeps it (~9 MiB, and its import time) out
of a server that only ever sees good documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .compiled import compile_schema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@cache
def schema(name: str) -> dict[str, Any]:
    """The parsed ``fedi/schemas/<name>.json``."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator for ``fedi/schemas/<name>.json``, compiled once per process."""
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema(name))
    return Draft202012Validator(schema(name))


@cache
def is_valid(name: str) -> Callable[[Any], bool]:
    """A fast yes/no check for schema ``name`` (``compiled``), or jsonschema's own when it cannot be compiled."""
    return compile_schema(schema(name)) or validator(name).is_valid


def dotted(path: Any) -> str:
    """``['media', 0, 'url']`` → ``media[0].url`` (how users write paths in TOML and JSON)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(error: ValidationError) -> str:
    """One line naming the field and what is expected of it."""
    where = dotted(error.absolute_path)
    prefix = f"{where} " if where else ""
    kind = error.validator
    if kind == "required":
        missing = next(
            (name for name in error.validator_value if name not in (error.instance or {})),
            str(error.validator_value),
        )
        full = f"{where}.{missing}" if where else missing
        return f"{full} is missing"
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        full = ", ".join(f"{where}.{e}" if where else e for e in extra)
        return f"unknown key {full}"
    if kind == "type":
        expected = error.validator_value
        if isinstance(expected, list):
            expected = " or ".join(expected)
        return f"{prefix}must be {_article(expected)}, not {json.dumps(error.instance, default=str)[:60]}"
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in error.validator_value)
        return f"{prefix}must be one of {options}"
    if kind == "pattern":
        return f"{prefix}{json.dumps(error.instance)[:60]} does not have the expected form"
    if "description" in error.schema:
        return f"{prefix}must be {error.schema['description']}"
    return f"{prefix}{error.message}"


def first_error(name: str, document: Any) -> str | None:
    """The most relevant problem of ``document`` against schema ``name``, or None when it is valid.

    Valid documents (nearly all of them, on the inbox's hot path) are recognised by the compiled check at a few
    microseconds; jsonschema runs only to explain a refusal.
    """
    if is_valid(name)(document):
        return None
    errors = sorted(validator(name).iter_errors(document), key=lambda e: (list(e.absolute_path), e.validator))
    if not errors:
        return None
    return describe(_deepest(errors[0]))


def all_errors(name: str, document: Any) -> list[str]:
    """Every problem, one sentence each, in document order."""
    errors = sorted(validator(name).iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [describe(_deepest(e)) for e in errors]


def _deepest(error: ValidationError) -> ValidationError:
    # anyOf/oneOf wrap the useful error; the deepest context names the precise field
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def _article(word: str) -> str:
    words = {"integer": "an integer", "object": "a table", "array": "a list", "string": "a string",
             "boolean": "true or false", "number": "a number", "null": "null"}
    return words.get(word, word)
