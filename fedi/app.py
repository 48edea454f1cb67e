"""``make_app(config)``: the aiohttp application, whose cleanup context owns the store, keys and background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

from aiohttp import web

from . import inbox_routes, publish, quotes, routes, talks
from . import keys as keys_mod
from .board import Board
from .client import Client
from .config import Config, urls_for
from .context import CTX, Clock, Context, utcnow
from .delivery import DeliveryWorker
from .jobs import JobWorker, Pressure
from .pages import Pages
from .store import open_store
from .verify import VERIFIER, Verifier

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 10.0
"""How long background workers get to finish the requests in hand when the server stops."""


def make_app(config: Config, *, clock: Clock = utcnow, background: bool = True, publishes: bool = True,
             board: Board | None = None) -> web.Application:
    """The whole server. ``background=False`` leaves out the folder watcher (tests drive sync themselves).

    ``publishes=False``: one of several worker processes (``workers``) that serves HTTP only: it reads the archive
    folder and follows its changes, and leaves publishing, delivery and jobs to the one worker that publishes.
    ``board``: the inbox's backlog marks, shared by those processes."""
    app = web.Application(client_max_size=1024 * 1024)
    routes.setup(app)
    inbox_routes.setup(app)
    routes.Router(app).add_fallback()

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        urls = urls_for(config)
        keys = keys_mod.load_or_create(config.keys_dir)
        store = open_store(config.store.url)
        await store.open()
        client = Client(config, urls, keys, clock=clock)
        await client.start()
        verifier = Verifier(config, urls, store, client, clock)
        dispatcher = quotes.dispatcher()  # every handler and job kind, for the inbox and the job worker
        deliverer = DeliveryWorker(config, store, client, clock) if background and publishes else None
        ctx = Context(config=config, urls=urls, keys=keys, store=store, pages=Pages(config, urls),
                      dispatcher=dispatcher, clock=clock, client=client, verifier=verifier, worker=deliverer,
                      pressure=Pressure(board=board))
        app[CTX] = ctx
        app[VERIFIER] = verifier
        tasks: list[asyncio.Task[None]] = []
        if not publishes:
            await read_archive(ctx, report=False)
            if config.archive.watch_seconds > 0:
                tasks.append(asyncio.create_task(watch(ctx, partial(read_archive, report=False)), name="fedi-read"))
        elif background and config.archive.dir.is_dir():
            # Serve at once: discovery and every stored document are ready, and reading a big archive folder
            # takes long (1,000 entries ≈ 0.6 s); the pages that show entries wait for it (ctx.entries()).
            tasks.append(asyncio.create_task(load_and_watch(ctx), name="fedi-watch"))
        else:  # tests drive sync themselves; a missing folder is refused here, before serving (ConfigError)
            await sync_archive(ctx)
        if background and publishes:
            # background workers are started here (one line each)
            tasks.append(ctx.start_delivery())
            jobs = job_worker(ctx)
            tasks.append(asyncio.create_task(jobs.run(), name="fedi-jobs"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                # bounded: a task that ignores its cancellation must not keep the server from stopping
                _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
                for task in stuck:
                    log.error("background task %s did not stop within %g s", task.get_name(), SHUTDOWN_SECONDS)
            await client.close()
            await store.close()

    app.cleanup_ctx.append(lifetime)
    return app


def job_worker(ctx: Context, clock: Clock | None = None) -> JobWorker:
    """The job worker of a process, wired like its inbox: the context's dispatcher (every handler and job kind),
    its pressure (it waits while the inbox is flooded), and its delivery worker to wake for the answers."""
    if ctx.client is None:
        raise RuntimeError("the job worker needs the client")
    wake = ctx.worker.wake if ctx.worker is not None else None
    return JobWorker(ctx.config, ctx.urls, ctx.store, ctx.client, ctx.dispatcher, clock or ctx.clock, ctx.pressure,
                     wake=wake)


async def read_archive(ctx: Context, *, report: bool = True) -> list[talks.Talk]:
    """Read the archive folder into ``ctx.talks``; a broken entry is left out (and logged when ``report``: the
    worker processes that only serve leave that to the one that publishes)."""
    loaded, problems = await asyncio.to_thread(talks.load_archive, ctx.config.archive.dir, ctx.config.archive.language)
    for problem in problems:
        if problem not in ctx.problems and report:
            log.warning("%s (left out)", problem)
    ctx.problems = problems
    ctx.talks = {t.slug: t for t in loaded}
    ctx.loaded.set()
    ctx.invalidate()  # pages built from the entries as they were
    return loaded


async def sync_archive(ctx: Context) -> publish.Result:
    """Read the archive folder and publish what changed."""
    loaded = await read_archive(ctx)
    result = await publish.sync(ctx.config, ctx.urls, ctx.store, loaded, ctx.clock(), keys=ctx.keys)
    for step in result.steps:
        log.info("published %s of %s to %d inbox(es)", step.kind, step.slug, step.inboxes)
    ctx.invalidate()
    if result.changed and ctx.worker is not None:
        ctx.worker.wake()
    return result


async def load_and_watch(ctx: Context) -> None:
    """The first reading and publication of the archive folder, then the watcher (when configured)."""
    try:
        await sync_archive(ctx)
    except Exception:  # the store failed for a moment: the entries are still shown, the watcher retries
        log.exception("publishing the archive folder at start-up failed")
    finally:
        ctx.loaded.set()
    if ctx.config.archive.watch_seconds > 0:
        await watch(ctx)


Named = dict[str, tuple[tuple[int, int], tuple[str, ...]]]
"""entry file name → ((mtime_ns, size) when read, the files it names)."""


def snapshot(folder: Path, named: Named | None = None) -> tuple:
    """What changes when an entry, or a file an entry names or may read (media, poster, captions, chapters, any
    WebVTT file of the folder), is added, replaced or removed: (name, mtime_ns, size) of every entry and of every
    such file (None, None while it is missing). ``named`` carries each entry's files from one look to the next, so
    only the entries that changed are read again (without it, every entry is read)."""
    named = {} if named is None else named
    try:
        entries = sorted((p.name, p.stat()) for p in folder.glob("*.toml"))
        vtt = {str(p.relative_to(folder)) for p in folder.rglob("*.vtt")}
    except OSError:
        return ()
    out: list[tuple[str, int | None, int | None]] = []
    files: set[str] = set(vtt)
    for name, st in entries:
        stamp = (st.st_mtime_ns, st.st_size)
        out.append((name, *stamp))
        known = named.get(name)
        if known is None or known[0] != stamp:
            try:
                text = (folder / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
            known = named[name] = (stamp, talks.local_files(text))
        files.update(known[1])
    for gone in set(named) - {name for name, _ in entries}:
        del named[gone]
    for ref in sorted(files - {name for name, _ in entries}):
        try:
            st = (folder / ref).stat()
            out.append((ref, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((ref, None, None))
    return tuple(out)


async def watch(ctx: Context, on_change: Callable[[Context], Awaitable[object]] | None = None) -> None:
    """Poll the archive folder (portable, no inotify dependency) and sync (or ``on_change``) when it has changed
    and then held still for one more look: a video still being copied in is published once, whole, not
    half-written."""
    folder = ctx.config.archive.dir
    named: Named = {}
    published = await asyncio.to_thread(snapshot, folder, named)
    last = published
    while True:
        await asyncio.sleep(ctx.config.archive.watch_seconds)
        now = await asyncio.to_thread(snapshot, folder, named)
        if now != published and now == last:
            published = now
            try:
                await (on_change or sync_archive)(ctx)
            except Exception:  # the watcher must survive a bad moment (disk full…); the next change retries
                log.exception("sync after a change in %s failed", folder)
        last = now
