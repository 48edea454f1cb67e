"""schemas.compiled: the fast check says yes exactly when jsonschema does, for every shipped schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedi import schemas
from fedi.schemas.compiled import compile_schema, equal
from tests.conftest import ENTRY, FIXTURES, ROOT, needs_fixtures

NAMES = ("incoming", "talk", "config", "mastodon_actor", "mastodon_note", "peertube_actor", "peertube_video",
         "peertube_chapters")


def _fixtures() -> list[dict[str, Any]]:
    found = []
    for path in sorted(Path(FIXTURES).glob("*/*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and "type" in doc:
            found.append(doc)
    return found


def _samples() -> dict[str, list[Any]]:
    """Real documents per schema: captured activities and actors, the sample talks, the example config."""
    docs = _fixtures()
    talks = [tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "outbox").glob("*.toml"))]
    talks.append(tomllib.loads(ENTRY))
    for talk in talks:
        talk["recorded"] = str(talk["recorded"])
    config = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    return {"incoming": docs, "talk": talks, "config": [config], "mastodon_actor": docs, "mastodon_note": docs,
            "peertube_actor": docs, "peertube_video": docs,
            "peertube_chapters": [{"id": "https://a.example/c", "hasPart": [
                {"name": "Ouverture", "startOffset": 0, "endOffset": 90}, {"name": "Suite", "startOffset": 90},
                {"name": "Débat", "startOffset": 600, "endOffset": 900}, {"name": "Fin", "startOffset": 900}]}]}


SAMPLES = _samples()
SAMPLED = tuple(name for name in NAMES if SAMPLES[name])
"""The schemas with samples: all of them, or only the project's own without the fixture documents."""
WITH_SAMPLES = [name if SAMPLES[name] else pytest.param(name, marks=needs_fixtures) for name in NAMES]
JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2, allow_nan=False)
                    | st.sampled_from([0, 10**7, "", "x", "https://a.example/x", "Follow", "Note", "Video", "@x",
                                       "x" * 3000, "https://a.example/" + "x" * 3000, "en", "PT1H", "video/webm"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["id", "type", "actor", "object", "url", "name", "to", "x"]), inner,
                        max_size=3), max_leaves=6)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    """A copy of ``doc`` with the node at ``path`` replaced, deleted or given an extra key."""
    doc = json.loads(json.dumps(doc, default=str))
    if not path:
        return value if action == "replace" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif isinstance(parent[last], dict):
        parent[last]["type"] = value
    return doc


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_schema_compiles(name: str) -> None:
    """Our schemas use only keywords the compiler knows, so none falls back to the slow path."""
    assert compile_schema(schemas.schema(name)) is not None


@pytest.mark.parametrize("name", WITH_SAMPLES)
def test_samples_agree(name: str) -> None:
    """On every real document the two checks give the same answer (and some are valid, some not)."""
    fast, slow = compile_schema(schemas.schema(name)), schemas.validator(name).is_valid
    assert fast is not None
    answers = [fast(doc) for doc in SAMPLES[name]]
    assert answers == [slow(doc) for doc in SAMPLES[name]]
    if name in ("incoming", "talk", "config"):
        assert any(answers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SAMPLED), data=st.data())
def test_mutations_agree(name: str, data: st.DataObject) -> None:
    """A real document with one node replaced, deleted or retyped: both checks agree on it."""
    doc = data.draw(st.sampled_from(SAMPLES[name]))
    path = data.draw(st.sampled_from(_paths(doc)))
    action = data.draw(st.sampled_from(["replace", "delete", "retype"]))
    value = data.draw(JSON)
    mutated = _mutate(doc, path, action, value)
    fast = compile_schema(schemas.schema(name))
    assert fast is not None
    assert fast(mutated) == schemas.validator(name).is_valid(mutated)


def _leaf(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _boundaries(value: Any) -> list[Any]:
    """Values just past the limits a schema may set on this leaf: too long, too small, too big, retyped."""
    if isinstance(value, bool):
        return [not value, int(value)]
    if isinstance(value, (int, float)):
        return [-1, 0, value + 0.5, 10**9, str(value)]
    if isinstance(value, str):
        return ["", value + "x" * 3000, value.upper(), " " + value, value + " ", 1]
    return []


@pytest.mark.parametrize("name", WITH_SAMPLES)
def test_boundary_mutations_agree(name: str) -> None:
    """Every leaf of every sample pushed past length, range, pattern and type limits: both checks agree."""
    fast, slow = compile_schema(schemas.schema(name)), schemas.validator(name).is_valid
    assert fast is not None
    checked = 0
    for doc in SAMPLES[name][:12]:
        plain = json.loads(json.dumps(doc, default=str))
        for path in _paths(plain):
            for value in _boundaries(_leaf(plain, path)):
                mutated = _mutate(plain, path, "replace", value)
                assert fast(mutated) == slow(mutated), (path, str(value)[:40])
                checked += 1
    assert checked > 50


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(NAMES), doc=JSON)
def test_arbitrary_values_agree(name: str, doc: Any) -> None:
    """Any small JSON value at all: both checks agree."""
    fast = compile_schema(schemas.schema(name))
    assert fast is not None and fast(doc) == schemas.validator(name).is_valid(doc)


def test_first_error_still_names_the_field() -> None:
    """The fast path only answers "valid": a refused document still gets jsonschema's precise sentence."""
    follow = {"type": "Follow", "actor": "https://a.example/users/x", "object": "https://b.example/actors/archive"}
    assert schemas.first_error("incoming", {**follow, "id": "https://a.example/1"}) is None
    assert schemas.first_error("incoming", follow) == "id is missing"


def test_unknown_keyword_is_not_compiled() -> None:
    """A keyword the compiler does not know makes it give up rather than skip it."""
    assert compile_schema({"type": "string", "unevaluatedProperties": False}) is None
    assert compile_schema({"$ref": "https://elsewhere.example/schema"}) is None
    assert compile_schema({"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False}) is None


@pytest.mark.parametrize(("a", "b", "same"), [(1, 1.0, True), (True, 1, False), (False, 0, False), ("1", 1, False),
                                              ([1, {"a": True}], [1.0, {"a": True}], True), ({"a": 1}, {"b": 1}, False),
                                              (None, None, True), ([], {}, False)])
def test_equal_is_json_equality(a: Any, b: Any, same: bool) -> None:
    """const/enum equality: booleans are not numbers, 1 equals 1.0, containers compare deeply."""
    assert equal(a, b) is same


@pytest.mark.parametrize("doc", [5, "x", None, [], {}, {"type": "A"}, {"type": "B"}, {"type": "A", "n": 1},
                                 {"type": 1}, {"type": ["A"]}, {"n": "1"}, {"type": "B", "n": "1"}])
def test_type_branches_keep_if_then_semantics(doc: Any) -> None:
    """The per-type lookup of if/then branches answers as jsonschema does, non-objects included (where every
    ``if`` passes vacuously, so every ``then`` applies)."""
    from jsonschema import Draft202012Validator

    schema = {"allOf": [
        {"if": {"required": ["type"], "properties": {"type": {"const": "A"}}}, "then": {"type": "object",
                                                                                          "required": ["n"]}},
        {"if": {"required": ["type"], "properties": {"type": {"enum": ["B", "C"]}}},
         "then": {"properties": {"n": {"type": "string"}}}},
    ]}
    fast = compile_schema(schema)
    assert fast is not None and fast(doc) == Draft202012Validator(schema).is_valid(doc)
