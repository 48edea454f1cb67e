"""The tables every backend keeps, described without SQL: what ``fedi migrate`` copies, in which order.

A row crosses between backends as a plain dict of column → value: ``str``, ``int`` or None, an aware UTC
``datetime`` for times, and the stored ``bytes`` for JSON documents (copied as they are, never re-encoded, so
what is served and sent stays byte for byte the same). Each backend maps these kinds onto its own types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

Row = dict[str, Any]

TEXT, INT, TIME, JSON = "text", "int", "time", "json"


class Table(NamedTuple):
    name: str
    key: tuple[str, ...]
    """The primary key: rows are upserted and exported in its order."""
    columns: Mapping[str, str]
    """Column → kind (``text``, ``int``, ``time`` or ``json``), in the order of the schema."""
    serial: bool = False
    """The key is an integer the store assigns (queue rows): copies keep it, and the counter follows."""


def _t(name: str, key: tuple[str, ...], serial: bool = False, **columns: str) -> Table:
    return Table(name, key, columns, serial)


TABLES: tuple[Table, ...] = (
    _t("talks", ("slug",), slug=TEXT, uuid=TEXT, version=INT, object_hash=TEXT, published=TIME, updated=TIME,
       deleted=TIME, object=JSON),
    _t("activities", ("id",), id=TEXT, actor_role=TEXT, type=TEXT, slug=TEXT, published=TIME, json=JSON),
    _t("deliveries", ("id",), True, id=INT, activity_id=TEXT, inbox=TEXT, host=TEXT, actor_role=TEXT, state=TEXT,
       due=TIME, created=TIME, worker=TEXT, attempts=INT, last_status=INT, last_error=TEXT, last_attempt=TIME),
    _t("followers", ("role", "actor_id"), role=TEXT, actor_id=TEXT, inbox=TEXT, shared_inbox=TEXT, host=TEXT,
       follow_id=TEXT, since=TIME, state=TEXT, target=TEXT, target_host=TEXT),
    _t("follow_ids", ("role", "actor_id", "follow_id"), role=TEXT, actor_id=TEXT, follow_id=TEXT),
    _t("seen", ("id",), id=TEXT, at=TIME),
    _t("received", ("id",), id=TEXT, type=TEXT, actor=TEXT, at=TIME, json=JSON),
    _t("actors", ("actor_id",), actor_id=TEXT, document=JSON, fetched_at=TIME),
    _t("keys", ("key_id",), key_id=TEXT, owner=TEXT, material=TEXT, kind=TEXT, fetched_at=TIME),
    _t("gone", ("actor_id",), actor_id=TEXT, at=TIME),
    _t("jobs", ("id",), True, id=INT, kind=TEXT, payload=JSON, state=TEXT, due=TIME, created=TIME, worker=TEXT,
       attempts=INT, last_error=TEXT),
    _t("hosts", ("host",), host=TEXT, failing_since=TIME, last_failure=TIME, failures=INT),
    _t("blocks", ("value",), value=TEXT),
    _t("comments", ("id",), id=TEXT, slug=TEXT, parent_id=TEXT, author_id=TEXT, author_name=TEXT,
       author_handle=TEXT, author_avatar=TEXT, author_url=TEXT, content_html=TEXT, language=TEXT, published=TIME,
       url=TEXT, state=TEXT, updated=TIME),
    _t("reactions", ("slug", "kind", "actor_id"), slug=TEXT, kind=TEXT, actor_id=TEXT, activity_id=TEXT, at=TIME),
    _t("pins", ("slug",), slug=TEXT, version=INT, pinned=INT, at=TIME),
    _t("quotes", ("id",), id=TEXT, slug=TEXT, quoting=TEXT, author=TEXT, request_id=TEXT, created=TIME,
       revoked=TIME),
)
"""Every table, each after the tables its rows refer to (copy in this order, delete in the reverse one)."""

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def table(name: str) -> Table:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"table {name!r}: not a fedi table (one of {', '.join(BY_NAME)})") from None


def check_rows(t: Table, rows: Sequence[Row]) -> None:
    """Every row has exactly the table's columns (a ValueError naming the first that differs)."""
    expected = set(t.columns)
    for row in rows:
        if row.keys() != expected:
            missing, extra = sorted(expected - row.keys()), sorted(row.keys() - expected)
            raise ValueError(f"table {t.name}: row {tuple(row.get(k) for k in t.key)!r} has missing columns "
                             f"{missing} and unknown columns {extra}")
