"""``fedi sync``, ``publish``, ``preview``, ``deliver``, ``status``, ``deliveries``: publishing and its queue.

``sync`` and ``publish`` only write the store (talk rows, activities, delivery rows, in one transaction); the
delivery worker of a running ``fedi serve`` — or a ``fedi deliver`` process — sends the rows within a second or
two, whichever process queued them. ``--wait`` also runs a worker here, so the command finishes the job even when
no server runs, and shows its progress.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import config as config_mod
from ..config import Config, urls_for
from ..errors import EntryError
from ..store import QueueCounts, Store, open_store
from ..urls import ROLES, Urls

if TYPE_CHECKING:  # the modules that load aiohttp and cryptography are imported by the commands that use them,
    from .. import publish, talks  # so that the CLI (and the supervisor of ``fedi serve --workers``) stays small


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def add_parsers(sub: Any) -> None:
    s = sub.add_parser("sync", help="publish what changed in the archive folder (Create, Update, Delete)")
    _publish_options(s)
    s = sub.add_parser("publish", help="publish one entry file of the archive folder (or its removal)")
    s.add_argument("file", type=Path, help="outbox/SLUG.toml (a file that is gone publishes its Delete)")
    _publish_options(s)
    s = sub.add_parser("preview", help="show the object and how Mastodon and PeerTube will display a talk")
    s.add_argument("file", type=Path, help="a talk entry (.toml)")
    s = sub.add_parser("deliver", help="run a delivery worker in this process until SIGTERM or Ctrl-C")
    s.add_argument("--once", action="store_true", help="send what is due now, then exit")
    s = sub.add_parser("status", help="followers, delivery queue, recent activities and dead hosts")
    s.add_argument("--recent", type=int, default=5, metavar="N", help="how many recent activities (default 5)")
    s = sub.add_parser("deliveries", help="list deliveries with their last error ('retry' puts dead ones back)")
    s.add_argument("--failed", action="store_true", help="only dead rows and rows retrying after an error")
    s.add_argument("--activity", metavar="ID", help="only the rows of this activity id")
    s.add_argument("--limit", type=int, default=50, metavar="N", help="at most N rows (default 50)")
    actions = s.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser("retry", help="put dead deliveries back in the queue (all, or filtered)")
    r.add_argument("--activity", dest="retry_activity", metavar="ID", help="only the rows of this activity id")
    r.add_argument("--inbox", metavar="URL", help="only the rows for this inbox")


def _publish_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--dry-run", action="store_true", help="print what would be sent to how many inboxes; write nothing")
    s.add_argument("--wait", action="store_true",
                   help="deliver here too and show progress until every delivery is done or dead (exit 1 if any "
                        "went dead)")


def _config(args: argparse.Namespace) -> Config:
    return config_mod.load(config_mod.config_path(args.config))


# sync and publish -------------------------------------------------------------------------------------------

def report(result: publish.Result, out: IO[str]) -> None:
    """One line per talk: what is sent to how many inboxes."""
    if not result.steps:
        print("nothing to publish: what was published matches the archive folder", file=out)
        return
    verb = "would publish" if result.dry_run else "published"
    for step in result.steps:
        sent = ", ".join(f"{a['type']} → {n} inbox{'es' if n != 1 else ''}"
                         for a, n in zip(step.activities, step.counts, strict=True))
        print(f"{verb} {step.kind:6} {step.slug}: {sent}", file=out)
    total = sum(len(s.activities) for s in result.steps)
    print(f"{total} activit{'ies' if total != 1 else 'y'}, {result.deliveries} deliver"
          f"{'ies' if result.deliveries != 1 else 'y'}" + (" (dry run: nothing written)" if result.dry_run else ""),
          file=out)


async def sync_command(config: Config, only: set[str] | None, entries: Sequence[talks.Talk], dry_run: bool,
                       wait: bool, out: IO[str]) -> int:
    from .. import publish

    urls = urls_for(config)
    async with open_store(config.store.url) as store:
        result = await publish.sync(config, urls, store, entries, utcnow(), dry_run=dry_run, only=only)
        report(result, out)
        if dry_run or not result.deliveries:
            return 0
        if not wait:
            print("the delivery worker of 'fedi serve' (or 'fedi deliver') sends them; 'fedi status' shows progress",
                  file=out)
            return 0
        return await deliver_and_wait(config, urls, store, result.activity_ids, out)


def cmd_sync(args: argparse.Namespace) -> int:
    from .. import talks

    config = _config(args)
    loaded, problems = talks.load_archive(config.archive.dir, config.archive.language)
    for problem in problems:
        print(f"{problem} (left out, not deleted)", file=sys.stderr)
    return asyncio.run(sync_command(config, None, loaded, args.dry_run, args.wait, sys.stdout))


def cmd_publish(args: argparse.Namespace) -> int:
    from .. import talks

    config = _config(args)
    path, folder = args.file.resolve(), config.archive.dir.resolve()
    if path.suffix != ".toml" or path.parent != folder:
        raise EntryError(f"{args.file}: fedi publishes the entries of the archive folder {folder} "
                         "(archive.dir); copy the .toml file there first")
    entries = [talks.load_entry(path, folder, config.archive.language)] if path.exists() else []
    return asyncio.run(sync_command(config, {path.stem}, entries, args.dry_run, args.wait, sys.stdout))


def cmd_preview(args: argparse.Namespace) -> int:
    from .. import objects, preview, publish, talks

    config = _config(args)
    path = args.file.resolve()
    folder = config.archive.dir.resolve()
    if path.parent != folder:  # media paths are relative to the entry's own folder then
        folder = path.parent
    talk = talks.load_entry(path, folder, config.archive.language)
    urls = urls_for(config)
    now = utcnow()
    obj = publish.build_object(config, urls, talk, uuid=publish.talk_uuid(urls, talk.slug), published=now,
                               updated=now)
    sys.stdout.write(preview.render(objects.document(obj), talk, config))
    return 0


# waiting for a publication's deliveries ---------------------------------------------------------------------------

class Progress:
    """A progress bar on a terminal (one line redrawn with ``\\r``), periodic plain lines otherwise."""

    WIDTH = 24

    def __init__(self, out: IO[str], tty: bool | None = None, every: float = 5.0,
                 clock: Any = time.monotonic) -> None:
        self.out, self.clock, self.every = out, clock, every
        self.tty = out.isatty() if tty is None else tty
        self.started = clock()
        self.last_line = -every
        self.first_done: int | None = None

    def line(self, counts: QueueCounts) -> str:
        total = counts.total or 1
        resolved = counts.done + counts.dead
        if self.first_done is None:
            self.first_done = counts.done
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = (counts.done - self.first_done) / elapsed
        filled = round(self.WIDTH * resolved / total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return (f"[{bar}] {counts.done}/{counts.total} delivered, {counts.dead} failed, {counts.retrying} retrying, "
                f"{rate:.1f}/s")

    def show(self, counts: QueueCounts, final: bool = False) -> None:
        text = self.line(counts)
        if self.tty:
            self.out.write("\r" + text + ("\n" if final else ""))
            self.out.flush()
        elif final or self.clock() - self.last_line >= self.every:
            self.last_line = self.clock()
            print(text, file=self.out, flush=True)


async def counts_of(store: Store, activity_ids: Sequence[str]) -> QueueCounts:
    parts = [await store.delivery_counts(a) for a in activity_ids]
    return QueueCounts(*(sum(getattr(p, k) for p in parts) for k in ("pending", "retrying", "done", "dead")))


async def wait_for(store: Store, activity_ids: Sequence[str], progress: Progress, interval: float = 0.2) -> QueueCounts:
    """Until none of the activities' rows waits any more; the final counts."""
    while True:
        counts = await counts_of(store, activity_ids)
        if counts.pending + counts.retrying == 0:
            progress.show(counts, final=True)
            return counts
        progress.show(counts)
        await asyncio.sleep(interval)


async def deliver_and_wait(config: Config, urls: Urls, store: Store, activity_ids: Sequence[str],
                           out: IO[str]) -> int:
    """Run a worker here while showing progress; 1 when a delivery went dead."""
    from .. import keys as keys_mod
    from ..client import Client
    from ..delivery import DeliveryWorker

    keys = keys_mod.load_or_create(config.keys_dir)
    async with Client(config, urls, keys) as client:
        worker = DeliveryWorker(config, store, client)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            counts = await wait_for(store, activity_ids, Progress(out))
        finally:
            stop.set()
            await task
    if counts.dead:
        print(f"{counts.dead} deliver{'ies' if counts.dead != 1 else 'y'} failed for good; see 'fedi deliveries "
              "--failed', and 'fedi deliveries retry' to try again", file=out)
        return 1
    return 0


# the worker as a process ---------------------------------------------------------------------------------------

async def deliver_command(config: Config, once: bool, out: IO[str]) -> int:
    from .. import keys as keys_mod
    from ..client import Client
    from ..delivery import DeliveryWorker

    urls = urls_for(config)
    keys = keys_mod.load_or_create(config.keys_dir)
    async with open_store(config.store.url) as store, Client(config, urls, keys) as client:
        worker = DeliveryWorker(config, store, client)
        if once:
            done = await worker.run_once()
            print(f"{done} deliver{'ies' if done != 1 else 'y'} handled", file=out)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        print(f"delivering as {worker.name} (SIGTERM or Ctrl-C stops after the deliveries in hand)", file=out,
              flush=True)
        await worker.run(stop)
        print(f"stopped after {worker.sent} deliver{'ies' if worker.sent != 1 else 'y'}", file=out)
        return 0


def cmd_deliver(args: argparse.Namespace) -> int:
    return asyncio.run(deliver_command(_config(args), args.once, sys.stdout))


# seeing what happened ------------------------------------------------------------------------------------------

def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "never"


async def status_command(config: Config, recent: int, out: IO[str], now: dt.datetime | None = None) -> int:
    urls = urls_for(config)
    async with open_store(config.store.url) as store:
        st = await store.status(now or utcnow(), config.delivery.dead_host_days, recent)
    for role in ROLES:
        counts = st.followers.get(role, {})
        print(f"followers of @{urls.handle(role)}: {counts.get('accepted', 0)}"
              + (f" ({counts['pending']} pending approval)" if counts.get("pending") else ""), file=out)
    print(f"distinct follower hosts: {st.follower_hosts}", file=out)
    print(f"talks published: {st.live_talks}", file=out)
    q = st.queue
    print(f"queue: {q.pending} pending, {q.retrying} retrying, {q.dead} dead ({q.done} done)", file=out)
    if st.recent:
        print("recent activities:", file=out)
        for a in st.recent:
            dead = f", {a.dead} dead" if a.dead else ""
            print(f"  {_when(a.published)}  {a.type:8} {a.slug or '-':24} {a.delivered}/{a.total} delivered{dead}"
                  f"  {a.id}", file=out)
    if st.dead_hosts:
        print(f"dead hosts (failing for {config.delivery.dead_host_days:g} days or more; probed daily):", file=out)
        for host in st.dead_hosts:
            print(f"  {host.host}  failing since {_when(host.failing_since)}", file=out)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    return asyncio.run(status_command(_config(args), args.recent, sys.stdout))


async def deliveries_command(config: Config, failed: bool, activity: str | None, limit: int, out: IO[str]) -> int:
    async with open_store(config.store.url) as store:
        rows = await store.deliveries(failed_only=failed, activity_id=activity, limit=limit)
    if not rows:
        print("no deliveries" + (" failed" if failed else ""), file=out)
        return 0
    for r in rows:
        status = r.last_status if r.last_status is not None else "-"
        print(f"{r.id:>6} {r.state:8} tries={r.attempts} status={status} last={_when(r.last_attempt)} "
              f"{r.inbox}  {r.activity_id}", file=out)
        if r.last_error and r.state in ("retrying", "dead"):
            due = f" (next try {_when(r.due)})" if r.state == "retrying" else ""
            print(f"       {r.last_error}{due}", file=out)
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    return asyncio.run(deliveries_command(_config(args), args.failed, args.activity, args.limit, sys.stdout))


async def retry_command(config: Config, activity: str | None, inbox: str | None, out: IO[str]) -> int:
    async with open_store(config.store.url) as store:
        count = await store.retry_dead(utcnow(), activity_id=activity, inbox=inbox)
    print(f"{count} dead deliver{'ies' if count != 1 else 'y'} back in the queue"
          + ("; the worker of 'fedi serve' (or 'fedi deliver') sends them" if count else ""), file=out)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    return asyncio.run(retry_command(_config(args), args.retry_activity, args.inbox, sys.stdout))


COMMANDS = {
    "sync": cmd_sync,
    "publish": cmd_publish,
    "preview": cmd_preview,
    "deliver": cmd_deliver,
    "status": cmd_status,
    "deliveries": cmd_deliveries,
    "deliveries retry": cmd_retry,
}
