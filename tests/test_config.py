"""config: one TOML file → frozen dataclasses; every problem is one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedi import config as config_mod
from fedi.errors import ConfigError
from tests.conftest import ROOT, write_config


def test_example_config_loads_and_documents_every_key() -> None:
    """config.example.toml is valid and mentions every key the schema knows."""
    cfg = config_mod.load(ROOT / "config.example.toml")
    assert cfg.archive.object_type in ("Video", "Note")
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    from fedi.schemas import validator

    schema = validator("config").schema
    for section, spec in schema["properties"].items():
        assert f"[{section}]" in text, section
        for key in spec.get("properties", {}):
            assert key in text, f"{section}.{key} is not documented in config.example.toml"


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    """Paths resolve against the config's folder; unset keys take their documented defaults."""
    path = write_config(tmp_path)
    cfg = config_mod.load(path)
    assert cfg.archive.dir == tmp_path / "outbox"
    assert cfg.keys_dir == tmp_path / "keys"
    assert cfg.store.url == f"sqlite:///{tmp_path / 'fedi.sqlite3'}"
    assert cfg.store.sqlite_path == tmp_path / "fedi.sqlite3"
    assert cfg.archive.page_size == 20 and cfg.archive.object_type == "Video"
    assert cfg.actor.manually_approves_followers is False
    assert cfg.delivery.concurrency == 32 and cfg.delivery.per_host == 4
    assert cfg.security.authorized_fetch is False


def test_domain_keeps_non_default_port(tmp_path: Path) -> None:
    """Handles carry :port when base_url has a non-default one, and not otherwise."""
    cfg = config_mod.load(write_config(tmp_path, server={"base_url": "http://127.0.0.1:8080"}))
    assert cfg.server.domain == "127.0.0.1:8080"
    cfg = config_mod.load(write_config(tmp_path, server={"base_url": "https://Talks.Example.org/"}))
    assert cfg.server.domain == "talks.example.org"
    assert cfg.server.base_url == "https://Talks.Example.org"


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"server": {"bogus": 1}}, "unknown key server.bogus"),
        ({"server": {"port": "80"}}, "server.port must be an integer"),
        ({"server": {"base_url": "talks.example.org"}}, "server.base_url"),
        ({"archive": {"object_type": "Article"}}, 'archive.object_type must be one of "Video", "Note"'),
        ({"actor": {"username": "Bad Name"}}, "actor.username"),
        ({"security": {"authorized_fetch": "yes"}}, "security.authorized_fetch must be true or false"),
        ({"delivery": {"per_host": 0}}, "delivery.per_host"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, sections: dict, expected: str) -> None:
    """Each wrong value stops with one line that names the key."""
    path = write_config(tmp_path, **sections)
    with pytest.raises(ConfigError) as info:
        config_mod.load(path)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert str(path) in message


def test_missing_required_key(tmp_path: Path) -> None:
    """A missing required key is named."""
    path = tmp_path / "config.toml"
    path.write_text('[server]\nbase_url = "https://a.example"\n[actor]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="owner is missing"):
        config_mod.load(path)
    path.write_text('[server]\nbase_url = "https://a.example"\n[actor]\nname = "x"\n[owner]\nname = "y"\n')
    with pytest.raises(ConfigError, match="owner.username is missing"):
        config_mod.load(path)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    """A missing file and broken TOML are one-line errors with the path."""
    with pytest.raises(ConfigError, match="no such config file"):
        config_mod.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_mod.load(bad)


def test_same_username_twice_is_refused(tmp_path: Path) -> None:
    """The archive and its owner need distinct handles."""
    path = write_config(tmp_path, owner={"username": "archive"})
    with pytest.raises(ConfigError, match="must differ"):
        config_mod.load(path)


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """--config beats $FEDI_CONFIG, which beats ./config.toml."""
    monkeypatch.delenv("FEDI_CONFIG", raising=False)
    assert config_mod.config_path(None) == Path("config.toml")
    monkeypatch.setenv("FEDI_CONFIG", "/etc/fedi.toml")
    assert config_mod.config_path(None) == Path("/etc/fedi.toml")
    assert config_mod.config_path("x.toml") == Path("x.toml")


def test_store_url_sqlite_relative(tmp_path: Path) -> None:
    """An sqlite:/// URL with a relative path resolves like store.path; both at once is refused."""
    cfg = config_mod.load(write_config(tmp_path, store={"url": "sqlite:///data/f.db"}))
    assert cfg.store.sqlite_path == tmp_path / "data" / "f.db"
    with pytest.raises(ConfigError, match="both set"):
        config_mod.load(write_config(tmp_path, store={"url": "sqlite:///a.db", "path": "b.db"}))
