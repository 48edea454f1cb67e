"""Shared fixtures: a small, complete archive on disk (config, entries, keys) in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fedi import config as config_mod

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
if not FIXTURES.is_dir():  # CI clones the project beside a copy of shared/
    FIXTURES = Path("/work/shared/fixtures")

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


@pytest.fixture(scope="session")
def keys_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One set of real key pairs per test run: generating RSA keys for every test would dominate its time."""
    from fedi import keys

    folder = tmp_path_factory.mktemp("keys")
    keys.load_or_create(folder)
    return folder


@pytest.fixture
def archive_dir(tmp_path: Path, keys_once: Path) -> Path:
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
