"""A fast yes/no check of a document against one of our schemas: the schema turned into nested closures once.

Why: ``jsonschema`` walks the schema anew for every document (references, ``if``/``then`` branches, a new
validator per level); an incoming Follow cost ~400 µs of the inbox's time, more than verifying its signature.
Valid documents are the common case, so ``schemas.first_error`` asks this check first and calls ``jsonschema``
only for a document this check refuses, to name the problem. The two must agree on every document; the
property tests in ``tests/test_schemas_compiled.py`` hold them to it.

Only the keywords our schemas use are compiled, with draft 2020-12 semantics as ``jsonschema`` implements them
(``format`` is an annotation there: not checked). A schema with any other keyword is not compiled at all
(``compile_schema`` returns None) and ``jsonschema`` alone does the work, so an unknown keyword can never be
silently skipped.

Why not ``fastjsonschema`` (a maintained compiler): measured on the inbox path, it is three times slower here and
implements drafts 4 to 7 and 2019-09, not 2020-12, so it would need the same agreement tests. On the 40 real
activities of the fixtures (Mastodon, PeerTube, Lemmy, GoToSocial, Mitra…), all three agree; per activity, this
check takes 42 - 57 µs, fastjsonschema 135 - 168 µs, jsonschema's ``is_valid`` 2,200 - 2,500 µs (median and best
of 7 rounds, 2-core VM). The difference is ~100 µs of an inbox POST's ~1 ms of CPU: too small to show through
the noise of ``bench.run --only inbox`` on a shared machine (alternating runs, fedi/raw: 0.51 and 0.48 with this
check, 0.54 and 0.32 with fastjsonschema), but it is paid on every activity, and what this module costs is its
tests (``tests/test_schemas_compiled.py``), which a switch would not spare.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default", "format",
                         "deprecated", "readOnly", "writeOnly", "$defs"})
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class Unsupported(Exception):
    """The schema uses a keyword (or a reference) this compiler does not handle."""


def equal(a: Any, b: Any) -> bool:
    """JSON equality as ``jsonschema`` has it for ``const`` and ``enum``: true and 1 differ, 1 and 1.0 do not."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return bool(a == b)


def compile_schema(schema: dict[str, Any]) -> Check | None:
    """A function telling whether a document is valid against ``schema``, or None if it cannot be compiled."""
    compiler = _Compiler(schema)
    try:
        return compiler.node(schema)
    except Unsupported:
        return None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _type_branch(schema: Any) -> tuple[str, list[str]] | None:
    """(k, names) when ``schema`` is exactly ``{"if": {"required": [k], "properties": {k: {"const": name}}}, "then":
    …}`` (or ``"enum": [names]``) with string names; None for any other shape."""
    if not isinstance(schema, dict) or set(schema) - ANNOTATIONS != {"if", "then"}:
        return None
    test = schema["if"]
    if not isinstance(test, dict) or set(test) - ANNOTATIONS != {"required", "properties"}:
        return None
    required, props = test["required"], test["properties"]
    if not (isinstance(required, list) and len(required) == 1 and isinstance(props, dict) and set(props) == {
            required[0]}):
        return None
    cond = props[required[0]]
    if not isinstance(cond, dict):
        return None
    if set(cond) - ANNOTATIONS == {"const"} and isinstance(cond["const"], str):
        return required[0], [cond["const"]]
    if set(cond) - ANNOTATIONS == {"enum"} and cond["enum"] and all(isinstance(n, str) for n in cond["enum"]):
        return required[0], list(cond["enum"])
    return None


def _all(checks: list[Check]) -> Check:
    """Every check passes (the common shapes without a generator: this runs for every node of a document)."""
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)
    if len(checks) == 3:
        first, second, third = checks
        return lambda v: first(v) and second(v) and third(v)
    every = tuple(checks)

    def run(v: Any) -> bool:
        for check in every:  # noqa: SIM110 - a plain loop: no generator on the hottest path
            if not check(v):
                return False
        return True
    return run


class _Compiler:
    def __init__(self, root: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = root.get("$defs", {})
        self.compiled: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/") or ref[8:] not in self.defs or "/" in ref[8:]:
            raise Unsupported(ref)
        name = ref[8:]
        if name not in self.compiled:
            self.compiled[name] = lambda v: True  # placeholder while compiling (a recursive reference)
            target = self.node(self.defs[name])
            self.compiled[name] = target
        compiled = self.compiled
        return lambda v: compiled[name](v)

    def node(self, schema: Any) -> Check:  # noqa: C901 - one branch per keyword, each small
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        checks: list[Check] = []
        for key, value in schema.items():
            if key in ANNOTATIONS or key in ("then", "else"):
                continue
            checks.append(self.keyword(key, value, schema))
        return _all(checks)

    def all_of(self, schemas: list[Any]) -> Check:
        """``allOf``, where the branches ``{"if": {type is X}, "then": …}`` (incoming activities have one per type)
        are looked up by the document's type instead of tried one by one.

        Same answers: a branch's ``if`` (``required: [k]`` and ``k`` equal to a string) passes for a non-object,
        so every ``then`` applies to one; for an object it passes exactly when ``k`` holds that string.
        """
        key: str | None = None
        table: dict[str, list[Check]] = {}
        rest: list[Check] = []
        for sub in schemas:
            found = _type_branch(sub)
            if found is None or (key is not None and found[0] != key):
                rest.append(self.node(sub))
                continue
            key = found[0]
            then = self.node(sub["then"])
            for name in found[1]:
                table.setdefault(name, []).append(then)
        if key is None:
            return _all(rest)
        others = _all(rest)
        by_type = {name: _all(checks) for name, checks in table.items()}
        every = _all([check for checks in table.values() for check in checks])
        field = key

        def run(v: Any) -> bool:
            if not others(v):
                return False
            if not isinstance(v, dict):
                return every(v)
            name = v.get(field)
            check = by_type.get(name) if isinstance(name, str) else None
            return check is None or check(v)
        return run

    def keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check:  # noqa: C901
        if key == "$ref":
            return self.ref(value)
        if key == "type":
            names = [value] if isinstance(value, str) else list(value)
            tests = [_TYPES[n] for n in names]
            return tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests))
        if key == "const":
            return lambda v: equal(v, value)
        if key == "enum":
            return lambda v: any(equal(v, option) for option in value)
        if key == "pattern":
            search = re.compile(value).search
            return lambda v: not isinstance(v, str) or search(v) is not None
        if key == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= value
        if key == "maxLength":
            return lambda v: not isinstance(v, str) or len(v) <= value
        if key == "minimum":
            return lambda v: not _number(v) or v >= value
        if key == "maximum":
            return lambda v: not _number(v) or v <= value
        if key == "exclusiveMinimum":
            return lambda v: not _number(v) or v > value
        if key == "exclusiveMaximum":
            return lambda v: not _number(v) or v < value
        if key == "required":
            required = tuple(value)
            return lambda v: not isinstance(v, dict) or all(n in v for n in required)
        if key == "properties":
            props = tuple((name, self.node(sub)) for name, sub in value.items())

            def properties(v: Any) -> bool:
                if isinstance(v, dict):
                    for name, check in props:
                        if name in v and not check(v[name]):
                            return False
                return True
            return properties
        if key == "additionalProperties":
            known = set(schema.get("properties", {}))
            if "patternProperties" in schema:
                raise Unsupported("patternProperties")
            extra = self.node(value)
            return lambda v: not isinstance(v, dict) or all(extra(v[k]) for k in v if k not in known)
        if key == "minProperties":
            return lambda v: not isinstance(v, dict) or len(v) >= value
        if key == "maxProperties":
            return lambda v: not isinstance(v, dict) or len(v) <= value
        if key == "dependentRequired":
            deps = {name: tuple(needed) for name, needed in value.items()}
            return lambda v: not isinstance(v, dict) or all(all(n in v for n in needed)
                                                           for name, needed in deps.items() if name in v)
        if key == "items":
            if "prefixItems" in schema:
                raise Unsupported("prefixItems")
            item = self.node(value)
            return lambda v: not isinstance(v, list) or all(item(x) for x in v)
        if key == "minItems":
            return lambda v: not isinstance(v, list) or len(v) >= value
        if key == "maxItems":
            return lambda v: not isinstance(v, list) or len(v) <= value
        if key == "contains":
            if "minContains" in schema or "maxContains" in schema:
                raise Unsupported("minContains/maxContains")
            member = self.node(value)
            return lambda v: not isinstance(v, list) or any(member(x) for x in v)
        if key == "allOf":
            return self.all_of(value)
        if key in ("anyOf", "oneOf"):
            subs = [self.node(s) for s in value]
            if key == "anyOf":
                return lambda v: any(s(v) for s in subs)
            return lambda v: sum(1 for s in subs if s(v)) == 1
        if key == "not":
            sub = self.node(value)
            return lambda v: not sub(v)
        if key == "if":
            test = self.node(value)
            then = self.node(schema["then"]) if "then" in schema else None
            other = self.node(schema["else"]) if "else" in schema else None
            return lambda v: (then is None or then(v)) if test(v) else (other is None or other(v))
        raise Unsupported(key)
