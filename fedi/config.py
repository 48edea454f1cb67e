"""The one TOML config file → frozen dataclasses, validated with jsonschema.

Relative paths resolve against the folder of the config file, so an archive can be moved as one folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schemas
from .errors import ConfigError
from .lru import DEFAULT_SIZE
from .urls import Urls, authority, host_name

DEFAULT_PATH = "config.toml"
ENV_VAR = "FEDI_CONFIG"


@dataclass(frozen=True)
class ServerConfig:
    base_url: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    """Processes serving HTTP on the port (``fedi serve``); 0 means one per CPU (``workers.count``)."""
    cache_entries: int = DEFAULT_SIZE
    """The most entries each in-memory cache holds (served documents, parsed remote keys…): the least recently
    used go first, so no sequence of requests can grow memory without bound."""

    @property
    def domain(self) -> str:
        """The handle's host: base_url's host, with ``:port`` when the port is not the scheme's default."""
        return authority(self.base_url)


@dataclass(frozen=True)
class ProfileField:
    name: str
    value: str


@dataclass(frozen=True)
class ActorConfig:
    name: str
    username: str = "archive"
    summary: str = ""
    icon: str | None = None
    image: str | None = None
    manually_approves_followers: bool = False
    show_followers: bool = False
    fields: tuple[ProfileField, ...] = ()


@dataclass(frozen=True)
class OwnerConfig:
    username: str
    name: str
    summary: str = ""
    icon: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ArchiveConfig:
    dir: Path
    object_type: str = "Video"
    language: str = "en"
    page_size: int = 20
    watch_seconds: float = 5.0


@dataclass(frozen=True)
class StoreConfig:
    url: str
    """``sqlite:///ABSOLUTE/PATH`` or ``postgresql://…``."""

    @property
    def sqlite_path(self) -> Path | None:
        return Path(self.url[len("sqlite:///"):]) if self.url.startswith("sqlite:///") else None


@dataclass(frozen=True)
class SecurityConfig:
    allow_private_addresses: bool = False
    authorized_fetch: bool = False
    blocked_domains: tuple[str, ...] = ()
    signature_max_age: int = 3600
    """How old a signed request may be, in seconds (Mastodon accepts about an hour:
    docs/receivers.md, Mastodon: signatures)."""
    key_cache_seconds: int = 86400


@dataclass(frozen=True)
class DeliveryConfig:
    concurrency: int = 32
    per_host: int = 4
    timeout: float = 10.0
    max_age: float = 2 * 86400
    dead_host_days: float = 7


@dataclass(frozen=True)
class InteractionsConfig:
    moderation: str = "followers"


@dataclass(frozen=True)
class Config:
    path: Path
    server: ServerConfig
    actor: ActorConfig
    owner: OwnerConfig
    archive: ArchiveConfig
    keys_dir: Path
    store: StoreConfig
    security: SecurityConfig = field(default_factory=SecurityConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    interactions: InteractionsConfig = field(default_factory=InteractionsConfig)

    @property
    def root(self) -> Path:
        return self.path.parent


def config_path(explicit: str | None) -> Path:
    """--config wins, then $FEDI_CONFIG, then ./config.toml."""
    return Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load(path: Path) -> Config:
    """Read, validate and resolve one config file; any problem is a ConfigError of one line."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (copy config.example.toml, or run 'fedi init DIR')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML document as if it came from ``path``."""
    problem = schemas.first_error("config", raw)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    root = path.resolve().parent
    server = raw["server"]
    actor = dict(raw["actor"])
    actor["fields"] = tuple(ProfileField(**f) for f in actor.get("fields", ()))
    owner = raw["owner"]
    archive = dict(raw.get("archive", {}))
    archive["dir"] = root / archive.get("dir", "outbox")
    store = raw.get("store", {})
    if "url" in store and "path" in store:
        raise ConfigError(f"{path}: store.path and store.url are both set; keep one")
    if "url" in store:
        url = store["url"]
        if url.startswith("sqlite:///"):
            url = "sqlite:///" + str(root / url[len("sqlite:///"):])
    else:
        url = "sqlite:///" + str(root / store.get("path", "fedi.sqlite3"))
    security = dict(raw.get("security", {}))
    security["blocked_domains"] = tuple(host_name(d.strip(".")) for d in security.get("blocked_domains", ()))
    config = Config(
        path=path.resolve(),
        server=ServerConfig(base_url=server["base_url"].rstrip("/"), host=server.get("host", "127.0.0.1"),
                            port=server.get("port", 8080), workers=server.get("workers", 1),
                            cache_entries=server.get("cache_entries", DEFAULT_SIZE)),
        actor=ActorConfig(**actor),
        owner=OwnerConfig(**owner),
        archive=ArchiveConfig(**archive),
        keys_dir=root / raw.get("keys", {}).get("dir", "keys"),
        store=StoreConfig(url=url),
        security=SecurityConfig(**security),
        delivery=DeliveryConfig(**raw.get("delivery", {})),
        interactions=InteractionsConfig(**raw.get("interactions", {})),
    )
    if config.actor.username == config.owner.username:
        raise ConfigError(f"{path}: actor.username and owner.username must differ (both are {config.owner.username!r})")
    return config


def urls_for(config: Config) -> Urls:
    """Where everything of this archive lives (its base URL and its two actors' usernames)."""
    return Urls(base=config.server.base_url, archive_username=config.actor.username,
                owner_username=config.owner.username)
