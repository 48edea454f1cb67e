"""cli: init scaffolds a working archive, check reports every problem, keys are created on demand."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fedi import cli, keys
from tests.conftest import ENTRY, ROOT


def test_init_scaffolds_an_archive_that_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fedi init writes a commented config, one example entry and 0600 keys; fedi check then passes."""
    root = tmp_path / "talks"
    assert cli.main(["init", str(root), "--base-url", "https://talks.example.org/", "--name", 'Our "talks"',
                     "--owner", "assoc", "--language", "fr"]) == 0
    config_text = (root / "config.toml").read_text()
    assert 'base_url = "https://talks.example.org"' in config_text and "#" in config_text
    assert 'name = "Our \\"talks\\""' in config_text
    assert (root / "outbox" / "example-talk.toml").is_file()
    for role in ("archive", "owner"):
        assert stat.S_IMODE(keys.private_path(root / "keys", role).stat().st_mode) == 0o600
    capsys.readouterr()
    assert cli.main(["--config", str(root / "config.toml"), "check"]) == 0
    assert "1 talk(s) valid, 0 problem(s)" in capsys.readouterr().out


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second init in the same folder stops with one line and leaves the config alone."""
    assert cli.main(["init", str(tmp_path)]) == 0
    before = (tmp_path / "config.toml").read_text()
    assert cli.main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fedi: ") and err.count("\n") == 1 and "already exists" in err
    assert (tmp_path / "config.toml").read_text() == before


def test_check_lists_each_problem_and_fails(archive_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line per broken entry, a summary, and a non-zero exit."""
    outbox = archive_dir / "outbox"
    (outbox / "no-media.toml").write_text(ENTRY.split("[[media]]")[0], encoding="utf-8")
    (outbox / "Bad.toml").write_text(ENTRY, encoding="utf-8")
    code = cli.main(["--config", str(archive_dir / "config.toml"), "check"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert any(line.startswith("outbox/no-media.toml: media is missing") for line in out)
    assert any(line.startswith("outbox/Bad.toml:") for line in out)
    assert out[-1].endswith("1 talk(s) valid, 2 problem(s), 2 warning(s)")


def test_check_warns_without_failing(archive_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Where a receiver's rules bite (a PNG poster, no MP4 rendition), check warns per entry and still passes."""
    assert cli.main(["--config", str(archive_dir / "config.toml"), "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("outbox/debat.toml: warning: ")]
    assert any("PeerTube 7.0: the poster media/poster.png is image/png" in w for w in warnings)
    assert any("no video/mp4 rendition" in w for w in warnings)
    assert out[-1].endswith("1 talk(s) valid, 0 problem(s), 2 warning(s)")


def test_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config error is one line on stderr and exit 1, whatever the command."""
    path = tmp_path / "config.toml"
    path.write_text('[server]\nbase_url = "https://x.example"\nport = "eighty"\n[actor]\nname="a"\n'
                    '[owner]\nusername="o"\nname="O"\n')
    assert cli.main(["--config", str(path), "check"]) == 1
    err = capsys.readouterr().err
    assert err == f"fedi: {path}: server.port must be an integer, not \"eighty\"\n"


def test_keys_generate(archive_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """keys generate leaves existing keys alone and replaces them with --force."""
    config = str(archive_dir / "config.toml")
    assert cli.main(["--config", config, "keys", "generate"]) == 0
    assert "already exist" in capsys.readouterr().out
    before = keys.public_path(archive_dir / "keys", "archive").read_text()
    assert cli.main(["--config", config, "keys", "generate", "--force"]) == 0
    assert keys.public_path(archive_dir / "keys", "archive").read_text() != before


def test_world_readable_key_stops_the_server(archive_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """serve refuses to start with an open private key and says how to fix it, without showing the key."""
    key = keys.private_path(archive_dir / "keys", "archive")
    os.chmod(key, 0o644)
    assert cli.main(["--config", str(archive_dir / "config.toml"), "serve"]) == 1
    err = capsys.readouterr().err
    assert f"chmod 600 {key}" in err and "PRIVATE" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_the_sample_archive_like_make_run(tmp_path: Path) -> None:
    """`fedi serve` on a copy of config.example.toml creates keys, publishes the four talks and answers."""
    import shutil

    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    shutil.copytree(ROOT / "outbox", tmp_path / "outbox")
    port = _free_port()
    env = {**os.environ, "FEDI_CONFIG": str(tmp_path / "config.toml")}
    proc = subprocess.Popen([sys.executable, "-m", "fedi.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # serve answers before it has read the archive folder (start-up time), then publishes it in the
        # background: wait until NodeInfo counts the four talks
        deadline = time.monotonic() + 20
        body = ""
        while '"localPosts":4' not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/nodeinfo/2.1", timeout=2) as resp:
                    body = resp.read().decode()
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(proc.stdout.read() if proc.poll() is not None else f"last answer: {body!r}")
            time.sleep(0.1)
        for role in ("archive", "owner"):
            assert stat.S_IMODE(keys.private_path(tmp_path / "keys", role).stat().st_mode) == 0o600
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_commands_start_without_the_server_s_imports():
    """Building the CLI imports neither the inbox (client, verifier) nor the page templates: every command,
    `fedi publish` first, starts ~0.15 s sooner (make bench: the fan-out is timed from the command's start)."""
    import subprocess
    import sys

    code = ("import sys, fedi.cli; fedi.cli.parser(); "
            "print(sorted(m for m in ('fedi.inbox', 'fedi.verify', 'fedi.pages', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_serve_spares_the_collector_what_start_up_built():
    """After start-up, ``fedi serve`` freezes the objects it built and raises the first GC threshold."""
    import gc

    before = gc.get_threshold()
    try:
        await cli._spare_the_collector(object())
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == cli.GC_THRESHOLD and gc.get_threshold()[1:] == before[1:]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
