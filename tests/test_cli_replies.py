"""``fedi replies`` on a real store: listing, approving, hiding and deleting, and one approval made from another
process while a server runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import pytest

from fedi import config as config_mod
from fedi.cli import main
from fedi.commands.replies import line, opening, printable
from fedi.store import Comment, open_store
from tests.fedi_app import FediApp
from tests.remote import RemoteServer

BASE = "https://m.example"
WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def reply(n: int, state: str, content: str = "<p>Bien vu</p>", **changes: object) -> Comment:
    fields: dict = dict(id=f"{BASE}/users/u{n}/statuses/{n}", slug="debat", parent_id=None,
                        author_id=f"{BASE}/users/u{n}", author_name=f"User {n}", author_handle=f"@u{n}@m.example",
                        author_avatar=None, author_url=f"{BASE}/@u{n}", content_html=content, language="fr",
                        published=WHEN + dt.timedelta(minutes=n), url=None, state=state)
    fields.update(changes)
    return Comment(**fields)


def run_store(root: Path, work):  # type: ignore[no-untyped-def]
    url = config_mod.load(root / "config.toml").store.url

    async def go():  # type: ignore[no-untyped-def]
        async with open_store(url) as store:
            return await work(store)
    return asyncio.run(go())


def cli(root: Path, *args: str) -> int:
    return main(["--config", str(root / "config.toml"), *args])


@pytest.fixture
def root(archive_dir: Path) -> Path:
    """The test archive published to its store, with three replies: approved, pending, hidden."""
    assert cli(archive_dir, "sync") == 0

    async def seed(store):  # type: ignore[no-untyped-def]
        await store.add_comment(reply(1, "approved", "<p>Premier <em>message</em> &amp; suite</p>"))
        await store.add_comment(reply(2, "pending", "<p>" + "long " * 40 + "</p>"))
        await store.add_comment(reply(3, "hidden"))
    run_store(archive_dir, seed)
    return archive_dir


def states(root: Path) -> dict[str, str]:
    async def read(store):  # type: ignore[no-untyped-def]
        return {c.id.rsplit("/", 1)[1]: c.state for c in await store.comments("debat", state=None)}
    return run_store(root, read)


def test_list_shows_every_reply_one_per_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``fedi replies`` prints id, author, talk, state and the opening of each reply, oldest first."""
    capsys.readouterr()
    assert cli(root, "replies") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{BASE}/users/u1/statuses/1  @u1@m.example  debat  [approved]  Premier message & suite"
    assert [ln.split()[0] for ln in lines] == [f"{BASE}/users/u{n}/statuses/{n}" for n in (1, 2, 3)]
    assert lines[1].endswith("…") and len(lines[1].split("[pending]  ")[1]) <= 60
    assert cli(root, "replies", "list") == 0
    assert capsys.readouterr().out.splitlines() == lines


def test_pending_lists_only_waiting_replies(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``fedi replies pending`` lists the waiting reply, without a state column."""
    capsys.readouterr()
    assert cli(root, "replies", "pending") == 0
    [only] = capsys.readouterr().out.splitlines()
    assert only.startswith(f"{BASE}/users/u2/statuses/2  @u2@m.example  debat  long long")


def test_approve_hide_delete(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each action takes the id as listed and changes exactly that reply."""
    two = f"{BASE}/users/u2/statuses/2"
    assert cli(root, "replies", "approve", two) == 0
    assert states(root) == {"1": "approved", "2": "approved", "3": "hidden"}
    assert cli(root, "replies", "hide", f"{BASE}/users/u1/statuses/1") == 0
    assert states(root) == {"1": "hidden", "2": "approved", "3": "hidden"}
    assert cli(root, "replies", "delete", f"{BASE}/users/u3/statuses/3") == 0
    assert states(root) == {"1": "hidden", "2": "approved"}
    out = capsys.readouterr().out
    assert f"approved {two} on debat" in out
    capsys.readouterr()
    assert cli(root, "replies", "pending") == 0
    assert capsys.readouterr().out.strip() == "no reply waits for approval"


def test_unknown_id_is_one_error_line(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An id that names no reply exits 1 with one line saying where the ids are listed."""
    capsys.readouterr()
    assert cli(root, "replies", "approve", "https://nowhere.example/x") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fedi replies" in err


def test_empty_store(archive_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without replies, the list says so."""
    capsys.readouterr()
    assert cli(archive_dir, "replies") == 0
    assert capsys.readouterr().out.strip() == "no reply received yet"


def test_remote_text_cannot_drive_the_terminal() -> None:
    """Escape sequences and bidi controls in stored values are shown as escapes, never sent to the terminal."""
    evil = reply(9, "pending", content="<p>ok\x1b[2J\x1b]0;pwned\x07 \u202etxt.exe</p>",
                 id="https://m.example/s/\x1b[31m9", author_handle="@\u202eu9@m.example")
    shown = line(evil)
    assert "\x1b" not in shown and "\u202e" not in shown and "\x07" not in shown
    assert shown.startswith("https://m.example/s/\\u001b[31m9  @\\u202eu9@m.example  debat  ok")
    assert printable("plain") == "plain"
    assert opening("<p>a &lt;b&gt;</p><p>c</p>") == "a <b> c"


async def test_approval_from_another_process_shows_on_the_running_server(archive_dir: Path) -> None:
    """``fedi replies approve`` in another process while ``fedi serve`` runs: the next page view shows it."""
    config = config_mod.load(archive_dir / "config.toml")
    app = await FediApp.start(config)
    remote = await RemoteServer.start()
    try:
        await app.ctx.store.add_comment(reply(1, "pending", "<p>Enfin visible</p>"))
        url = app.ctx.urls.talk("debat")
        before = await remote.send("GET", url, None, {"Accept": "text/html"})
        assert "Enfin visible" not in before.body.decode()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fedi.cli", "--config", str(archive_dir / "config.toml"), "replies", "approve",
            f"{BASE}/users/u1/statuses/1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err
        after = await remote.send("GET", url, None, {"Accept": "text/html"})
        assert "Enfin visible" in after.body.decode()
        video = await remote.signed_get(url)
        assert video.json["replies"]["totalItems"] == 1
    finally:
        await remote.close()
        await app.stop()
