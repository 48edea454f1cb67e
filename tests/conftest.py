"""Shared fixtures: a small, complete archive on disk (config, entries, keys) in a temporary folder."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fedi import config as config_mod

ROOT = Path(__file__).resolve().parent.parent
FIXTURES_ENV = "FEDI_FIXTURES"


def fixtures_folder() -> Path:
    """Where the third-party documents (real JSON from Mastodon, PeerTube…, kept outside the repository) are:
    the folder ``FEDI_FIXTURES`` names, else ``shared/fixtures`` beside the checkout."""
    named = os.environ.get(FIXTURES_ENV)
    return Path(named) if named else ROOT.parent / "shared" / "fixtures"


FIXTURES = fixtures_folder()
HAVE_FIXTURES = (FIXTURES / "INDEX.md").is_file()
NO_FIXTURES = (f"the third-party fixture documents are not at {FIXTURES} "
               f"(set {FIXTURES_ENV} to the folder that holds them)")
needs_fixtures = pytest.mark.skipif(not HAVE_FIXTURES, reason=NO_FIXTURES)
"""Marks a test that reads the fixture documents: skipped, saying why, when they are absent."""


def fixture_path(name: str) -> Path:
    """A fixture document's path; skips the calling test (with the reason) when the folder is absent."""
    if not HAVE_FIXTURES:
        pytest.skip(NO_FIXTURES)
    return FIXTURES / name


def fixture_params(values: list, arity: int = 1) -> list:  # type: ignore[type-arg]
    """Parameters built from the fixture documents, or one skipped placeholder when they are absent (so the
    report says why instead of showing an empty parameter set)."""
    return values if HAVE_FIXTURES else [pytest.param(*[None] * arity, marks=needs_fixtures)]

ENTRY = """\
title = "Un débat"
speakers = ["Alice Martin", "Bob Durand"]
recorded = 2010-03-06T14:00:00+01:00
summary = \"\"\"Premier paragraphe.

Second paragraphe.\"\"\"
event = "Séance publique"
place = "Paris"
tags = ["contribution", "logiciellibre"]
license = "https://creativecommons.org/licenses/by-sa/4.0/"
duration = "PT1H2M3S"
thumbnail = "media/poster.png"

[[media]]
url = "media/talk.webm"
type = "video/webm"
width = 640
height = 360
fps = 25
"""

# a real 2×1 PNG, so image sizes are read from an actual file
PNG_2x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000010806000000f4227f8a"
    "0000000e49444154789c63f8cfc0f01f840111f703fde3c5f5ef0000000049454e44ae426082"
)


def write_config(root: Path, **sections: dict) -> Path:
    """Write a config.toml in ``root`` from the default test sections overlaid with ``sections``."""
    base = {
        "server": {"host": "127.0.0.1", "port": 0, "base_url": "http://127.0.0.1:8080"},
        "actor": {"username": "archive", "name": "Test archive", "summary": "Talks.\n\nMore talks."},
        "owner": {"username": "assoc", "name": "The Association", "url": "https://assoc.example"},
        "archive": {"dir": "outbox", "language": "fr"},
        "security": {"allow_private_addresses": True},
    }
    if "store" not in sections and root.resolve() in _ARCHIVE_STORES:  # a --store=postgres run (see below)
        base["store"] = {"url": _ARCHIVE_STORES[root.resolve()]}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    lines = []
    for name, values in base.items():
        lines.append(f"[{name}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}")
        lines.append("")
    path = root / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


async def until(condition: Callable[[], Any], timeout: float, what: str, *watched: Any, every: float = 0.02,
                detail: Callable[[], str] | None = None) -> None:
    """Poll ``condition`` (a function, possibly async) until it is true; else fail after ``timeout`` seconds saying
    that ``what`` did not happen (with ``detail()``, and the end of the log of each ``watched`` process, which
    also fails the wait at once if it exits). The one bounded wait of the tests: none relies on pytest's timeout.

    ``watched``: objects with ``proc`` (a process with ``returncode``), ``log()`` and maybe a ``name``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def logs() -> str:
        return "".join(f"\n--- {getattr(w, 'name', 'fedi')}\n{w.log()[-3000:]}" for w in watched)

    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        for w in watched:
            if w.proc is not None and w.proc.returncode is not None:
                raise AssertionError(f"{getattr(w, 'name', 'fedi')} exited ({w.proc.returncode}) while waiting for "
                                     f"{what}{logs()}")
        if loop.time() > deadline:
            raise AssertionError(f"{what}: did not happen within {timeout:g} s"
                                 + (f" ({detail()})" if detail else "") + logs())
        await asyncio.sleep(every)


class ManualClock:
    """An injected clock moved by hand, so retry and lease rules are tested without sleeping (signatures still
    carry the real time: the remote servers check it)."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def keys_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One set of real key pairs per test run: generating RSA keys for every test would dominate its time."""
    from fedi import keys

    folder = tmp_path_factory.mktemp("keys")
    keys.load_or_create(folder)
    return folder


@pytest.fixture
def archive_dir(tmp_path: Path, keys_once: Path, archive_store_url: str | None) -> Path:
    """A folder with config.toml, outbox/ holding one talk with a local poster and video, and keys/."""
    shutil.copytree(keys_once, tmp_path / "keys")
    outbox = tmp_path / "outbox"
    (outbox / "media").mkdir(parents=True)
    (outbox / "media" / "poster.png").write_bytes(PNG_2x1)
    (outbox / "media" / "talk.webm").write_bytes(bytes(range(256)) * 40)
    (outbox / "debat.toml").write_text(ENTRY, encoding="utf-8")
    write_config(tmp_path)
    return tmp_path


@pytest.fixture
def config(archive_dir: Path) -> config_mod.Config:
    return config_mod.load(archive_dir / "config.toml")


# stores: SQLite and PostgreSQL -------------------------------------------------------------------------------------
#
# ``store_url`` / ``store``: a fresh store of each backend (a test using them runs once per backend). PostgreSQL
# comes from tests/pg.py: the server named by FEDI_TEST_POSTGRES, or a throwaway cluster of Debian's binaries;
# without either, the PostgreSQL variants are skipped, saying why. ``--store=postgres`` (or FEDI_TEST_STORE=postgres)
# runs the whole suite on PostgreSQL: every config written in an ``archive_dir`` (the ``config`` fixture, and
# ``write_config(archive_dir, …)`` rewrites) then names a fresh PostgreSQL database, and ``store_url`` only
# PostgreSQL; ``--store=sqlite`` keeps every test to SQLite (the PostgreSQL-only ones skip).

_ARCHIVE_STORES: dict[Path, str] = {}
"""archive folder → the PostgreSQL URL its config names, in a --store=postgres run."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=("sqlite", "postgres"), default=None,
                     help="run the suite's stores on this backend (default: archives on SQLite, the store's own "
                          "tests on both); also FEDI_TEST_STORE")


def store_mode(config: pytest.Config) -> str | None:
    mode = config.getoption("--store", None) or os.environ.get("FEDI_TEST_STORE") or None
    if mode not in (None, "sqlite", "postgres"):
        raise pytest.UsageError(f"FEDI_TEST_STORE={mode!r}: use sqlite or postgres")
    return mode


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" in metafunc.fixturenames:
        mode = store_mode(metafunc.config)
        backends = [mode] if mode else ["sqlite", "postgres"]
        metafunc.parametrize("store_backend", backends, ids=backends)


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The PostgreSQL server of this run (tests/pg.py). Skips when none is available, unless PostgreSQL was asked
    for (--store=postgres or FEDI_TEST_POSTGRES): then the tests fail instead of passing unseen."""
    from tests.pg import ENV, PgServer, Unavailable

    try:
        server = PgServer.start()
    except Unavailable as exc:
        if store_mode(request.config) == "postgres" or os.environ.get(ENV):
            pytest.fail(f"PostgreSQL was asked for but is unavailable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    yield server
    server.close()


@pytest.fixture
def new_store_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """Makes the URL of a fresh, empty store of a backend (``"sqlite"`` or ``"postgres"``); the PostgreSQL
    databases are dropped after the test."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            made.append(f"sqlite:///{tmp_path / (f'fedi{len(made) + 1}' if made else 'fedi')}.sqlite3")
            return made[-1]
        if store_mode(request.config) == "sqlite":
            pytest.skip("a PostgreSQL test, and this run is --store=sqlite")
        made.append(request.getfixturevalue("postgres_server").create_database())
        return made[-1]
    yield make
    for url in made:
        if not url.startswith("sqlite:"):
            request.getfixturevalue("postgres_server").drop_database(url)


@pytest.fixture
def store_url(store_backend: str, new_store_url: Callable[[str], str]) -> str:
    """The URL of a fresh, empty store of the backend this test runs on."""
    return new_store_url(store_backend)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator:  # type: ignore[type-arg]
    """A fresh store of each backend, open."""
    from fedi.store import open_store

    async with open_store(store_url) as s:
        yield s


@pytest.fixture
def archive_store_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the archive's default SQLite file), or in a --store=postgres run a fresh PostgreSQL database that
    every config written in this test's archive folder names."""
    if store_mode(request.config) != "postgres":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database(migrated=True)
    _ARCHIVE_STORES[tmp_path.resolve()] = url
    yield url
    _ARCHIVE_STORES.pop(tmp_path.resolve(), None)
    server.drop_database(url)


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped sample archive (config.example.toml + outbox/), with keys of its own."""
    root = tmp_path_factory.mktemp("sample")
    shutil.copy(ROOT / "config.example.toml", root / "config.toml")
    shutil.copytree(ROOT / "outbox", root / "outbox")
    return root


# the remote fediverse server (tests/remote.py) and the loopback-only safety net ----------------------------------

@pytest.fixture
async def remote_server():
    """A Mastodon-shaped remote server on 127.0.0.1 with the actor ``alice`` (see tests/remote.py)."""
    from tests.remote import RemoteServer

    remote = await RemoteServer.start(name="mastodon", style="mastodon")
    yield remote
    await remote.close()


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test at once if anything tries to open a connection outside 127.0.0.0/8 and ::1.

    A safety net under the SSRF tests: the guard must refuse first, but if it did not, no packet leaves.
    Returns the list of addresses connected to.
    """
    import asyncio
    import asyncio.selector_events
    import ipaddress
    import socket

    seen: list[str] = []

    def check(address: object) -> None:
        host = str(address[0] if isinstance(address, tuple) else address)
        seen.append(host)
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise AssertionError(f"a test tried to connect outside the loopback network: {address}")

    selector_loop = asyncio.selector_events.BaseSelectorEventLoop
    original_sock_connect = selector_loop.sock_connect
    original_create_connection = asyncio.BaseEventLoop.create_connection
    original_connect = socket.socket.connect

    async def sock_connect(self, sock, address):  # type: ignore[no-untyped-def]
        if sock.family != socket.AF_UNIX:  # a unix socket (the test PostgreSQL server's) never leaves the machine
            check(address)
        return await original_sock_connect(self, sock, address)

    async def create_connection(self, protocol_factory, host=None, port=None, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("sock") is None:
            check((host, port))
        return await original_create_connection(self, protocol_factory, host, port, **kwargs)

    def connect(self, address):  # type: ignore[no-untyped-def]
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address)
        return original_connect(self, address)

    monkeypatch.setattr(selector_loop, "sock_connect", sock_connect)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


@pytest.fixture
async def fedi(config: config_mod.Config):  # type: ignore[no-untyped-def]
    """``await fedi(**sections)`` starts a real fedi app (tests/fedi_app.py) on the test archive; all stop at end."""
    from tests.fedi_app import FediApp  # imported here: fedi_app itself imports this module

    apps: list[FediApp] = []

    async def start(**sections: dict) -> FediApp:
        app = await FediApp.start(config, **sections)
        apps.append(app)
        return app

    yield start
    for app in apps:
        await app.stop()


@pytest.fixture
async def peertube():  # type: ignore[no-untyped-def]
    """A remote server on 127.0.0.2 that signs and verifies the way PeerTube does."""
    from tests.remote import RemoteServer

    remote = await RemoteServer.start(name="peertube", style="peertube", host="127.0.0.2")
    yield remote
    await remote.close()
