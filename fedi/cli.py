"""The ``fedi`` command. Every FediError becomes one line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import html
import logging
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from . import config as config_mod
from .errors import FediError

if TYPE_CHECKING:
    from .talks import Talk

Command = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn
    return register


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedi", description="Put an archive of recorded talks on the fediverse.")
    p.add_argument("--config", metavar="PATH", help="config file (default: $FEDI_CONFIG or ./config.toml)")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    p.add_argument("--version", action="version", version=f"fedi {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("init", help="scaffold a new archive in DIR (config, outbox/ with an example, keys)")
    s.add_argument("dir", type=Path)
    s.add_argument("--base-url", default="https://talks.example.org", help="public https origin of the archive")
    s.add_argument("--name", default="Talk archive", help="the archive's display name")
    s.add_argument("--username", default="archive", help="the archive's username (its handle)")
    s.add_argument("--owner", default="association", help="the owner (association) username")
    s.add_argument("--owner-name", default="Our association", help="the owner's display name")
    s.add_argument("--language", default="en", help="default language code of the talks")
    sub.add_parser("check", help="validate the config and every talk entry")
    s = sub.add_parser("serve", help="serve the archive (and publish, deliver, watch the folder)")
    s.add_argument("--host", help="bind address (default: server.host)")
    s.add_argument("--port", type=int, help="port (default: server.port)")
    s.add_argument("--workers", type=int, metavar="N",
                   help="processes serving HTTP (default: server.workers; 0: one per CPU)")
    s = sub.add_parser("keys", help="manage the actors' key pairs")
    ks = s.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    g = ks.add_parser("generate", help="create the missing key pairs (all of them with --force)")
    g.add_argument("--force", action="store_true", help="replace existing keys (remote servers must refetch)")
    for module in _command_modules():
        module.add_parsers(sub)
    return p


def _command_modules() -> list:  # type: ignore[type-arg]
    import importlib

    from .commands import MODULES

    found = []
    for name in MODULES:
        try:
            found.append(importlib.import_module(f"fedi.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"fedi.commands.{name}":
                raise
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    action = getattr(args, "action", None) or getattr(args, f"{args.command}_command", None)
    name = f"{args.command} {action}" if action else args.command
    table = dict(COMMANDS)
    for module in _command_modules():
        table.update(module.COMMANDS)
    try:
        return table[name](args)
    except FediError as exc:
        print(f"fedi: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def load_config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(config_mod.config_path(args.config))


@command("init")
def cmd_init(args: argparse.Namespace) -> int:
    root: Path = args.dir
    target = root / "config.toml"
    if target.exists():
        raise FediError(f"{target} already exists; fedi init does not overwrite an archive")
    (root / "outbox" / "images").mkdir(parents=True, exist_ok=True)
    templates = resources.files("fedi").joinpath("templates")
    text = templates.joinpath("config.toml.tmpl").read_text(encoding="utf-8")
    values = {"base_url": args.base_url.rstrip("/"), "username": args.username, "name": args.name,
              "owner_username": args.owner, "owner_name": args.owner_name, "language": args.language}
    # values go inside TOML basic strings: escape what would end or break them
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in values.items()}
    target.write_text(text.format(**escaped), encoding="utf-8")
    entry = root / "outbox" / "example-talk.toml"
    if not entry.exists():
        entry.write_text(templates.joinpath("example-entry.toml").read_text(encoding="utf-8"), encoding="utf-8")
    from . import keys

    cfg = config_mod.load(target)
    keys.load_or_create(cfg.keys_dir)
    print(f"Created {target}, {entry} and keys in {cfg.keys_dir}.")
    print(f"Next: edit {target} (server.base_url, actor, owner), describe your talks in {root / 'outbox'}, "
          f"then run: fedi --config {target} check && fedi --config {target} serve")
    return 0


@command("check")
def cmd_check(args: argparse.Namespace) -> int:
    from . import keys, talks

    cfg = load_config(args)
    loaded, problems = talks.load_archive(cfg.archive.dir, cfg.archive.language)
    for problem in problems:
        print(problem)
    try:
        keys.load_or_create(cfg.keys_dir)
    except FediError as exc:
        print(exc)
        problems.append(str(exc))
    warned = _receiver_warnings(cfg, loaded)
    print(f"{cfg.path}: {len(loaded)} talk(s) valid, {len(problems)} problem(s), {warned} warning(s)")
    return 1 if problems else 0


def _receiver_warnings(cfg: config_mod.Config, loaded: list[Talk]) -> int:
    """Print, for each valid entry, where Mastodon's or PeerTube's rules bite (``fedi preview`` says more);
    a warning does not fail the check: the talk is published all the same."""
    import datetime as dt

    from . import objects, preview, publish

    urls = config_mod.urls_for(cfg)
    now = dt.datetime.now(dt.UTC)
    count = 0
    for talk in loaded:
        obj = publish.build_object(cfg, urls, talk, uuid=urls.talk_uuid(talk.slug), published=now, updated=now)
        for warning in preview.warnings(objects.document(obj), talk, cfg):
            print(f"{cfg.archive.dir.name}/{talk.slug}.toml: warning: {html.unescape(warning)}")
            count += 1
    return count


@command("keys generate")
def cmd_keys_generate(args: argparse.Namespace) -> int:
    from . import keys

    cfg = load_config(args)
    written = keys.generate(cfg.keys_dir, force=args.force)
    for path in written:
        print(f"wrote {path} (mode 0600)")
    if not written:
        print(f"all key pairs already exist in {cfg.keys_dir} (use --force to replace them)")
    return 0


@command("serve")
def cmd_serve(args: argparse.Namespace) -> int:
    from . import workers

    cfg = load_config(args)
    host = args.host or cfg.server.host
    port = args.port if args.port is not None else cfg.server.port
    if args.workers is not None and args.workers < 0:
        raise FediError(f"--workers {args.workers}: give 1 or more processes, or 0 for one per CPU")
    count = workers.count(cfg.server.workers if args.workers is None else args.workers)
    how = f" with {count} workers" if count > 1 else ""
    print(f"fedi {__version__}: serving {cfg.server.base_url} on http://{host}:{port}{how}", flush=True)
    return workers.serve(cfg, host, port, count, on_startup=_spare_the_collector)


async def _spare_the_collector(app: object) -> None:
    """What start-up built lives as long as the server: ``gc.freeze`` keeps the cyclic collector from scanning it
    again at every collection, and a larger first threshold makes collections rarer under load. A flood of
    inbox POSTs costs ~4 % less CPU with the first, ~8 % with both (docs/performance.md)."""
    import gc

    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


GC_THRESHOLD = 50_000
"""Allocations between two collections of the youngest generation (Python's default: 700 or 2,000)."""


if __name__ == "__main__":
    sys.exit(main())
