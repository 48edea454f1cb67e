"""``fedi followers …``, ``fedi block``, ``fedi unblock``, ``fedi blocks``: followers and blocks by hand.

These commands only write the store; what must be sent (an Accept on approval, a Reject on rejection, removal
or block) is queued there as a job, which the job worker of a running ``fedi serve`` sends within a second —
or the next ``fedi serve`` does. So they work while the server runs, in another process, on the same store.

The ``async`` functions (``approve``, ``reject``, ``remove``, ``block``, …) are the API; the ``cmd_*`` wrappers
parse arguments and print.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from typing import Any

from .. import config as config_mod
from ..config import Config, urls_for
from ..errors import FediError
from ..store import Follower, Store, open_store
from ..urls import ROLES, authority_of, host


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# the API ------------------------------------------------------------------------------------------------------

async def find(config: Config, store: Store, actor: str, role: str | None = None,
               state: str | None = None) -> list[Follower]:
    """The follower rows ``actor`` names: an actor id, or a handle ``user@host`` / ``@user@host`` matched
    against the cached documents of the followers."""
    roles = [role] if role else list(ROLES)
    found: list[Follower] = []
    if "://" in actor:
        for r in roles:
            follower = await store.follower(r, actor)
            if follower is not None and (state is None or follower.state == state):
                found.append(follower)
        return found
    user, _, domain = actor.lstrip("@").rpartition("@")
    name = host(f"https://{domain}/") if authority_of(domain) else ""
    if not user or not name:
        raise FediError(f"{actor!r}: give the follower's actor id (https://…) or its handle user@host")
    for r in roles:
        for follower in await store.followers(r, state=state):
            if follower.host != name:
                continue
            cached = await store.cached_actor(follower.actor_id)
            name = cached.document.get("preferredUsername") if cached else None
            if isinstance(name, str) and name.lower() == user.lower():
                found.append(follower)
    return found


async def _one_or_more(config: Config, store: Store, actor: str, role: str | None, state: str | None,
                       what: str) -> list[Follower]:
    found = await find(config, store, actor, role, state)
    if not found:
        where = f" of {role}" if role else ""
        raise FediError(f"{actor}: no {what}{where} by that name (see 'fedi followers list')")
    return found


async def approve(config: Config, store: Store, actor: str, role: str | None = None,
                  now: dt.datetime | None = None) -> list[Follower]:
    """Accept pending follow requests of ``actor``; the Accept is queued for the job worker."""
    from .. import inbox  # here, not at the top: every command starts without its imports
    now, urls = now or utcnow(), urls_for(config)
    found = await _one_or_more(config, store, actor, role, "pending", "pending follow request")
    for follower in found:
        await store.set_follower_state(follower.role, follower.actor_id, "accepted")
        await inbox.queue_answer(urls, store, "Accept", follower.role, inbox.follow_of(urls, follower),
                                 follower.inbox, now)
    return found


async def reject(config: Config, store: Store, actor: str, role: str | None = None,
                 now: dt.datetime | None = None) -> list[Follower]:
    """Refuse pending follow requests of ``actor``: the rows go and a Reject is queued."""
    found = await _one_or_more(config, store, actor, role, "pending", "pending follow request")
    return await _remove(config, store, found, now or utcnow())


async def remove(config: Config, store: Store, actor: str, role: str | None = None,
                 now: dt.datetime | None = None) -> list[Follower]:
    """Remove a follower (whatever its state) and queue a Reject, so its server stops showing it as following
    (Mastodon does the same when it removes a follower: docs/receivers.md, Mastodon: activities)."""
    found = await _one_or_more(config, store, actor, role, None, "follower")
    return await _remove(config, store, found, now or utcnow())


async def _remove(config: Config, store: Store, found: list[Follower], now: dt.datetime) -> list[Follower]:
    from .. import inbox  # here, not at the top: every command starts without its imports
    urls = urls_for(config)
    for follower in found:
        if await store.remove_follower(follower.role, follower.actor_id):
            await inbox.queue_answer(urls, store, "Reject", follower.role, inbox.follow_of(urls, follower),
                                     follower.inbox, now)
    return found


def _block_value(value: str) -> str:
    value = value.strip()
    if "://" in value:
        if not value.startswith(("http://", "https://")) or not host(value):
            raise FediError(f"{value!r}: an actor id is an http(s) URL")
        return value
    domain = value.lower().strip(".")
    if not domain or "@" in domain or "/" in domain or " " in domain:
        raise FediError(f"{value!r}: give a domain (example.com, which covers its subdomains) or an actor id "
                        "(https://…)")
    return domain


async def block(config: Config, store: Store, value: str,
                now: dt.datetime | None = None) -> tuple[bool, list[Follower]]:
    """Block a domain or an actor: matching followers are removed and sent a Reject; their requests are
    refused (403) from now on. Returns (newly blocked, followers removed)."""
    from .. import inbox  # here, not at the top: every command starts without its imports
    value = _block_value(value)
    new = await store.block(value)
    gone = await inbox.block_followers(config, urls_for(config), store, value, now or utcnow())
    return new, gone


async def unblock(config: Config, store: Store, value: str) -> bool:
    value = _block_value(value)
    if value in config.security.blocked_domains:
        raise FediError(f"{value} is blocked by security.blocked_domains in {config.path}; remove it there")
    return await store.unblock(value)


async def blocks(config: Config, store: Store) -> list[tuple[str, str]]:
    """(value, where it comes from: "store" or "config")."""
    listed = [(d, "config") for d in config.security.blocked_domains]
    listed += [(v, "store") for v in await store.blocks() if v not in config.security.blocked_domains]
    return sorted(listed)


# the commands ---------------------------------------------------------------------------------------------------

def add_parsers(sub: Any) -> None:
    role_help = "only this actor's followers: archive (the Group) or owner (the Person)"
    s = sub.add_parser("followers", help="list, approve, reject or remove followers")
    s.add_argument("--role", choices=ROLES, help=role_help)
    actions = s.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("list", help="every follower: role, state, since, host, actor (the default)")
    a.add_argument("--role", choices=ROLES, default=argparse.SUPPRESS, help=role_help)
    a = actions.add_parser("pending", help="follow requests waiting for approval")
    a.add_argument("--role", choices=ROLES, default=argparse.SUPPRESS, help=role_help)
    for name, text in (("approve", "accept a pending follow request (sends Accept)"),
                       ("reject", "refuse a pending follow request (sends Reject)"),
                       ("remove", "remove a follower (sends Reject)")):
        a = actions.add_parser(name, help=text)
        a.add_argument("actor", help="the follower's actor id (https://…) or handle user@host")
        a.add_argument("--role", choices=ROLES, default=argparse.SUPPRESS, help=role_help)
    s = sub.add_parser("block", help="block a domain or an actor (removes its followers, sends them Reject)")
    s.add_argument("value", help="a domain (covers its subdomains) or an actor id")
    s = sub.add_parser("unblock", help="lift a block made with 'fedi block'")
    s.add_argument("value", help="the blocked domain or actor id")
    sub.add_parser("blocks", help="list blocked domains and actors")


def _with_store(args: argparse.Namespace, work: Callable[[Config, Store], Any]) -> Any:
    config = config_mod.load(config_mod.config_path(args.config))

    async def run() -> Any:
        async with open_store(config.store.url) as store:
            return await work(config, store)
    return asyncio.run(run())


def _print_followers(rows: list[Follower], empty: str) -> None:
    if not rows:
        print(empty)
        return
    print(f"{'ROLE':8} {'STATE':9} {'SINCE':20} {'HOST':30} ACTOR")
    for f in rows:
        print(f"{f.role:8} {f.state:9} {f.since.strftime('%Y-%m-%d %H:%M:%S'):20} {f.host:30} {f.actor_id}")


def cmd_list(args: argparse.Namespace, state: str | None = None) -> int:
    async def work(config: Config, store: Store) -> list[Follower]:
        roles = [args.role] if getattr(args, "role", None) else list(ROLES)
        return [f for role in roles for f in await store.followers(role, state=state)]
    rows = _with_store(args, work)
    _print_followers(rows, "no pending follow requests" if state else "no followers yet")
    if rows:
        print(f"{len(rows)} {'request(s)' if state else 'follower(s)'}")
    return 0


def cmd_pending(args: argparse.Namespace) -> int:
    return cmd_list(args, state="pending")


def _acting(verb: str, fn: Callable[..., Any], sends: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        done = _with_store(args, lambda config, store: fn(config, store, args.actor, getattr(args, "role", None)))
        for f in done:
            print(f"{verb} {f.actor_id} ({f.role}); {sends} is queued and goes out from 'fedi serve'")
        return 0
    return command


def cmd_block(args: argparse.Namespace) -> int:
    new, gone = _with_store(args, lambda config, store: block(config, store, args.value))
    print(f"blocked {args.value.strip()}" + ("" if new else " (it already was)"))
    for f in gone:
        print(f"removed follower {f.actor_id} ({f.role}); a Reject is queued")
    return 0


def cmd_unblock(args: argparse.Namespace) -> int:
    if _with_store(args, lambda config, store: unblock(config, store, args.value)):
        print(f"unblocked {args.value.strip()}")
        return 0
    print(f"{args.value.strip()} was not blocked", file=sys.stderr)
    return 1


def cmd_blocks(args: argparse.Namespace) -> int:
    listed = _with_store(args, blocks)
    for value, source in listed:
        print(f"{value}" + ("  (security.blocked_domains)" if source == "config" else ""))
    if not listed:
        print("nothing is blocked")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "followers": cmd_list,
    "followers list": cmd_list,
    "followers pending": cmd_pending,
    "followers approve": _acting("approved", approve, "the Accept"),
    "followers reject": _acting("rejected", reject, "a Reject"),
    "followers remove": _acting("removed", remove, "a Reject"),
    "block": cmd_block,
    "unblock": cmd_unblock,
    "blocks": cmd_blocks,
}
