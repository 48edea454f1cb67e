"""``fedi replies …``: the moderation of replies received from the fediverse.

    fedi replies [list]        every stored reply, whatever its state
    fedi replies pending       the replies waiting for approval
    fedi replies approve ID    show it under the talk (and in the talk's ``replies`` collection)
    fedi replies hide ID       take it off the page (it stays stored, and a re-sent Create cannot bring it back)
    fedi replies delete ID     forget it (the author's server may send it again, and moderation decides again)

One reply per line: its id (the URL of the reply's Note, what the other commands take), its author, the talk,
then the opening of its text. The commands only write the store, so they work while ``fedi serve`` runs, in
another process: the talk page and collections read the store at each request.

The ``async`` functions are the API; the ``cmd_*`` wrappers parse arguments and print.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from .. import config as config_mod
from ..errors import FediError
from ..sanitize import clean_text
from ..store import Comment, Store, open_store

OPENING = 60
"""Characters of a reply's text shown per line."""
_TAG = re.compile(r"<[^>]*>")


# the API ------------------------------------------------------------------------------------------------------

async def replies(store: Store, state: str | None = None) -> list[Comment]:
    """Replies on every talk (removed ones included), oldest first; ``state`` keeps one state only."""
    if state == "pending":
        return await store.pending_comments()
    found = [c for talk in await store.talks(include_deleted=True) for c in await store.comments(talk.slug, state)]
    return sorted(found, key=lambda c: (c.published, c.id))


async def find(store: Store, reply_id: str) -> Comment:
    comment = await store.comment(reply_id.strip())
    if comment is None:
        raise FediError(f"{reply_id.strip()}: no reply with this id (the ids are listed by 'fedi replies')")
    return comment


async def approve(store: Store, reply_id: str) -> Comment:
    """Show the reply to visitors."""
    comment = await find(store, reply_id)
    await store.set_comment_state(comment.id, "approved")
    return comment


async def hide(store: Store, reply_id: str) -> Comment:
    """Keep the reply, but never show it."""
    comment = await find(store, reply_id)
    await store.set_comment_state(comment.id, "hidden")
    return comment


async def delete(store: Store, reply_id: str) -> Comment:
    """Remove the reply from the store."""
    comment = await find(store, reply_id)
    await store.delete_comment(comment.id, comment.author_id)
    return comment


def opening(content_html: str, limit: int = OPENING) -> str:
    """The first words of a reply's (sanitized) HTML, as one line of plain text."""
    text = html.unescape(_TAG.sub(" ", content_html))
    return clean_text(text, limit)


def printable(value: str) -> str:
    """A stored value made safe for a terminal: control and format characters shown as escapes, so that no
    remote text can move the cursor, recolour or hide what follows."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf") else f"\\u{ord(c):04x}" for c in value)


def line(comment: Comment, with_state: bool = False) -> str:
    """``ID  AUTHOR  TALK  opening…`` (with ``[state]`` before the opening when listing every state)."""
    author = comment.author_handle or comment.author_name or comment.author_id
    parts = [printable(comment.id), printable(author), comment.slug]
    if with_state:
        parts.append(f"[{comment.state}]")
    parts.append(opening(comment.content_html))
    return "  ".join(parts)


# the commands ---------------------------------------------------------------------------------------------------

def add_parsers(sub: Any) -> None:
    s = sub.add_parser("replies", help="list replies received from the fediverse, approve, hide or delete them")
    actions = s.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="every reply: id, author, talk, state, opening (the default)")
    actions.add_parser("pending", help="replies waiting for approval")
    for name, text in (("approve", "show a reply under its talk"),
                       ("hide", "never show a reply (it stays stored)"),
                       ("delete", "remove a reply from the store")):
        a = actions.add_parser(name, help=text)
        a.add_argument("id", help="the reply's id, as 'fedi replies' lists it (the URL of its Note)")


def _with_store(args: argparse.Namespace, work: Callable[[Store], Any]) -> Any:
    config = config_mod.load(config_mod.config_path(args.config))

    async def run() -> Any:
        async with open_store(config.store.url) as store:
            return await work(store)
    return asyncio.run(run())


def cmd_list(args: argparse.Namespace, state: str | None = None) -> int:
    rows: list[Comment] = _with_store(args, lambda store: replies(store, state))
    for comment in rows:
        print(line(comment, with_state=state is None))
    if not rows:
        print("no reply waits for approval" if state else "no reply received yet")
    return 0


def cmd_pending(args: argparse.Namespace) -> int:
    return cmd_list(args, state="pending")


def _acting(verb: str, fn: Callable[[Store, str], Any]) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        comment: Comment = _with_store(args, lambda store: fn(store, args.id))
        print(f"{verb} {printable(comment.id)} on {comment.slug}")
        return 0
    return command


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "replies": cmd_list,
    "replies list": cmd_list,
    "replies pending": cmd_pending,
    "replies approve": _acting("approved", approve),
    "replies hide": _acting("hidden", hide),
    "replies delete": _acting("deleted", delete),
}
