"""``fedi followers``, ``fedi block``, ``fedi unblock``, ``fedi blocks`` on a real store, and one run against a
live server from another process."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import pytest

from fedi import config as config_mod
from fedi.cli import main
from fedi.store import Follower, open_store
from fedi.urls import ARCHIVE, OWNER
from tests.conftest import ROOT, until, write_config
from tests.fedi_app import AS, FediApp, free_port
from tests.remote import RemoteServer

SINCE = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def store_url(root: Path) -> str:
    return config_mod.load(root / "config.toml").store.url


def run_store(root: Path, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with open_store(store_url(root)) as store:
            return await work(store)
    return asyncio.run(go())


def follower(actor: str, role: str = ARCHIVE, state: str = "accepted") -> Follower:
    host = actor.split("/")[2]
    return Follower(role, actor, actor + "/inbox", f"https://{host}/inbox", host, actor + "#follows/1", SINCE, state)


@pytest.fixture
def root(archive_dir: Path) -> Path:
    """An archive with three followers: two of the archive (one pending), one of the owner."""
    async def seed(store):  # type: ignore[no-untyped-def]
        await store.add_follower(follower("https://masto.example/users/alice"))
        await store.add_follower(follower("https://tube.example/accounts/bob", state="pending"))
        await store.add_follower(follower("https://sub.masto.example/users/carol", role=OWNER))
        await store.cache_actor("https://tube.example/accounts/bob", {
            "id": "https://tube.example/accounts/bob", "type": "Person", "preferredUsername": "bob",
            "inbox": "https://tube.example/accounts/bob/inbox"}, [], SINCE)
    run_store(archive_dir, seed)
    return archive_dir


def cli(root: Path, *args: str) -> int:
    return main(["--config", str(root / "config.toml"), *args])


def state(root: Path):  # type: ignore[no-untyped-def]
    """(followers by role, queued deliveries as dicts, stored answers by id)."""
    async def read(store):  # type: ignore[no-untyped-def]
        rows = {role: [(f.actor_id, f.state) for f in await store.followers(role)] for role in (ARCHIVE, OWNER)}
        queued = [{"activity_id": d.activity_id, "inbox": d.inbox, "role": d.actor_role, "state": d.state}
                  for d in await store.deliveries()]
        answers = {d["activity_id"]: await store.activity(d["activity_id"]) for d in queued}
        return rows, queued, answers
    return run_store(root, read)


def test_list_shows_every_follower(root, capsys):
    """'fedi followers' lists role, state, since, host and actor of each, both roles."""
    assert cli(root, "followers") == 0
    out = capsys.readouterr().out
    assert "https://masto.example/users/alice" in out and "https://sub.masto.example/users/carol" in out
    line = next(x for x in out.splitlines() if "bob" in x)
    assert line.split()[:5] == ["archive", "pending", "2024-05-01", "12:00:00", "tube.example"]
    assert "3 follower(s)" in out


def test_list_by_role(root, capsys):
    """--role keeps one actor's followers, before or after the action."""
    assert cli(root, "followers", "--role", "owner") == 0
    out = capsys.readouterr().out
    assert "carol" in out and "alice" not in out
    assert cli(root, "followers", "list", "--role", "archive") == 0
    out = capsys.readouterr().out
    assert "alice" in out and "carol" not in out


def test_pending(root, capsys):
    """'fedi followers pending' shows the requests waiting for approval."""
    assert cli(root, "followers", "pending") == 0
    out = capsys.readouterr().out
    assert "bob" in out and "alice" not in out and "1 request(s)" in out


def test_empty_list(archive_dir, capsys):
    """No followers: a plain sentence."""
    assert cli(archive_dir, "followers") == 0
    assert "no followers yet" in capsys.readouterr().out


def test_approve_queues_an_accept(root, capsys):
    """Approve accepts the row and queues an Accept embedding the Follow, for the follower's personal inbox."""
    assert cli(root, "followers", "approve", "https://tube.example/accounts/bob") == 0
    assert "approved https://tube.example/accounts/bob" in capsys.readouterr().out
    rows, jobs, answers = state(root)
    assert ("https://tube.example/accounts/bob", "accepted") in rows[ARCHIVE]
    [job] = jobs
    assert job["inbox"] == "https://tube.example/accounts/bob/inbox" and job["role"] == ARCHIVE
    assert job["state"] == "pending"
    accept = answers[job["activity_id"]]
    assert accept["type"] == "Accept" and accept["object"]["id"] == "https://tube.example/accounts/bob#follows/1"
    assert accept["actor"].endswith("/actors/archive")


def test_approve_by_handle(root):
    """A follower can be named by its handle user@host."""
    assert cli(root, "followers", "approve", "@bob@tube.example") == 0
    rows, _, _ = state(root)
    assert ("https://tube.example/accounts/bob", "accepted") in rows[ARCHIVE]


def test_approve_of_no_pending_request_fails(root, capsys):
    """Approving someone who did not ask (or is already accepted) is an error, exit 1, nothing queued."""
    assert cli(root, "followers", "approve", "https://masto.example/users/alice") == 1
    assert "no pending follow request" in capsys.readouterr().err
    assert state(root)[1] == []


def test_reject_removes_and_queues_a_reject(root):
    """Reject removes the request and queues a Reject of its Follow."""
    assert cli(root, "followers", "reject", "https://tube.example/accounts/bob") == 0
    rows, jobs, answers = state(root)
    assert all("bob" not in a for a, _ in rows[ARCHIVE])
    [job] = jobs
    assert answers[job["activity_id"]]["type"] == "Reject"


def test_remove_an_accepted_follower(root):
    """Remove works on an accepted follower too, and also sends a Reject (as Mastodon does)."""
    assert cli(root, "followers", "remove", "https://sub.masto.example/users/carol", "--role", "owner") == 0
    rows, jobs, answers = state(root)
    assert rows[OWNER] == []
    assert answers[jobs[0]["activity_id"]]["actor"].endswith("/actors/assoc")


def test_remove_with_the_wrong_role_fails(root, capsys):
    """--role archive does not find the owner's follower."""
    assert cli(root, "followers", "remove", "https://sub.masto.example/users/carol", "--role", "archive") == 1
    assert "no follower of archive" in capsys.readouterr().err


def test_block_domain_removes_followers_and_subdomains(root, capsys):
    """Blocking masto.example removes alice and carol (subdomain), queues two Rejects, and lists the block."""
    assert cli(root, "block", "Masto.Example") == 0
    out = capsys.readouterr().out
    assert "blocked Masto.Example" in out and out.count("removed follower") == 2
    rows, jobs, answers = state(root)
    assert rows == {ARCHIVE: [("https://tube.example/accounts/bob", "pending")], OWNER: []}
    assert sorted(answers[j["activity_id"]]["type"] for j in jobs) == ["Reject", "Reject"]
    assert cli(root, "blocks") == 0
    assert capsys.readouterr().out.strip() == "masto.example"


def test_block_twice_and_unblock(root, capsys):
    """A second block says so; unblock lifts it; unblocking again fails."""
    actor = "https://tube.example/accounts/bob"
    assert cli(root, "block", actor) == 0
    assert cli(root, "block", actor) == 0
    assert "(it already was)" in capsys.readouterr().out
    assert cli(root, "unblock", actor) == 0
    assert cli(root, "unblock", actor) == 1
    assert cli(root, "blocks") == 0
    assert "nothing is blocked" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["alice@masto.example", "ftp://x.example/u", "", "a b"])
def test_block_refuses_what_is_not_a_domain_or_actor(root, capsys, value):
    """A handle, another scheme or junk is refused with one line, exit 1."""
    assert cli(root, "block", value) == 1
    assert capsys.readouterr().err.startswith("fedi: ")


def test_config_blocks_are_listed_and_not_unblockable_here(archive_dir, capsys):
    """Domains of security.blocked_domains show in 'fedi blocks'; unblocking one points to the config."""
    write_config(archive_dir, security={"allow_private_addresses": True, "blocked_domains": ["spam.example"]})
    assert cli(archive_dir, "blocks") == 0
    assert "spam.example  (security.blocked_domains)" in capsys.readouterr().out
    assert cli(archive_dir, "unblock", "spam.example") == 1
    assert "security.blocked_domains" in capsys.readouterr().err


@pytest.mark.usefixtures("loopback_only")
async def test_approve_from_another_process_while_serving(archive_dir):
    """'fedi followers approve' in a separate process, while the server runs: the server sends the Accept."""
    port = free_port()
    write_config(archive_dir, server={"base_url": f"http://127.0.0.1:{port}", "port": port},
                 actor={"manually_approves_followers": True})
    config = config_mod.load(archive_dir / "config.toml")
    remote = await RemoteServer.start()
    app = await FediApp.start(config, port=port, background=True)
    try:
        follow = {"@context": AS, "id": remote.actor_id() + "#follows/1", "type": "Follow",
                  "actor": remote.actor_id(), "object": app.actor()}
        assert (await remote.signed_post(app.inbox(), follow)).status == 202
        await until(lambda: app.ctx.store.followers(ARCHIVE, state="pending"), 10, "the Follow to wait for approval")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fedi.cli", "--config", str(archive_dir / "config.toml"), "followers", "approve",
            remote.actor_id(), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        await until(lambda: any(r.json and r.json.get("type") == "Accept" for r in remote.received), 10,
                    "the server to send the Accept of the follower approved by the other process")
        [accept] = [r for r in remote.received if r.json and r.json.get("type") == "Accept"]
        assert accept.verified and accept.json["object"]["id"] == follow["id"]
        assert accept.json["actor"] == app.actor()
    finally:
        await app.stop()
        await remote.close()


def test_block_takes_replies_and_reactions_off_the_talk_pages(root, capsys):
    """Blocking a domain or an actor also forgets what those accounts left under the talks."""
    from fedi.store import Comment

    assert cli(root, "sync") == 0

    def reply(author: str, n: int) -> Comment:
        return Comment(id=f"{author}/statuses/{n}", slug="debat", parent_id=None, author_id=author,
                       author_name="x", author_handle=None, author_avatar=None, author_url=None,
                       content_html="<p>hi</p>", language="fr", published=SINCE, url=None, state="approved")

    async def seed(store):  # type: ignore[no-untyped-def]
        for n, author in enumerate(["https://masto.example/users/alice", "https://sub.masto.example/users/dan",
                                    "https://tube.example/accounts/bob", "https://other.example/users/eve"]):
            await store.add_comment(reply(author, n))
            await store.add_reaction("like", f"{author}#likes/1", author, "debat", SINCE)

    async def left(store):  # type: ignore[no-untyped-def]
        return sorted(c.author_id for c in await store.comments("debat", None)), await store.reaction_counts("debat")

    run_store(root, seed)
    assert cli(root, "block", "masto.example") == 0
    authors, counts = run_store(root, left)
    assert authors == ["https://other.example/users/eve", "https://tube.example/accounts/bob"]
    assert counts.likes == 2
    assert cli(root, "block", "https://tube.example/accounts/bob") == 0
    authors, counts = run_store(root, left)
    assert authors == ["https://other.example/users/eve"] and counts.likes == 1
