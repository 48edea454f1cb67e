"""``fedi serve`` on every core: ``[server] workers`` processes accepting connections on one port.

One worker (the default) is the plain server of ``app``, in this process. With N > 1, this process becomes a small
supervisor that serves nothing itself (it loads the config and opens the store, never aiohttp or cryptography:
each worker imports the server after its fork, so the supervisor stays at about half a worker's memory):

- it binds N listening sockets to the port with ``SO_REUSEPORT`` (the kernel spreads new connections over them)
  and forks one worker per socket; a worker that dies keeps its socket in the supervisor, so the connections
  waiting in its queue are accepted by its replacement, not refused;
- every worker serves HTTP (reads, inbox verification and storage); worker 0 alone also publishes, watches the
  folder, delivers and runs the jobs (``make_app(publishes=False)`` for the others), so that background work
  runs once. Delivery rows and jobs are claimed with leases in the store, so even two of them would never send
  or handle one row twice;
- the inbox's backlog mark (``board.Board``) lives in memory shared by the workers: once one worker has deferred
  an actor's activity under a flood, no worker handles a later one at once, so per-actor order holds;
- a worker that dies is logged and forked again (after 0.1 s, doubling while it keeps dying young, at most
  ``MAX_RESTART_DELAY``); one that gives up starting (a store it cannot open…) on its first start stops
  everything with its error;
- SIGTERM (or SIGINT) is passed to every worker, each drains as a single server does (open requests answered,
  background tasks stopped) and the supervisor exits once all have; a supervisor killed with ``kill -9`` closes
  the pipe each worker watches, and the workers then drain and exit by themselves.

Nothing is lost when any of them is killed: what a worker answered 202 for is committed, the rows and jobs it had
claimed come back when their lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import mmap
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from .board import Board
from .config import Config
from .errors import ConfigError, FediError

log = logging.getLogger(__name__)

MAX_RESTART_DELAY = 10.0
"""The longest wait before a worker that keeps dying is forked again (seconds)."""
FIRST_RESTART_DELAY = 0.1
SETTLED_SECONDS = 30.0
"""A worker that lived this long had settled: its next restart waits the first delay again."""
DRAIN_SECONDS = 75.0
"""How long the supervisor waits for its workers to drain on SIGTERM before killing them (aiohttp gives open
connections 60 s, the background tasks get ``app.SHUTDOWN_SECONDS``)."""
BACKLOG = 1024
"""Each listening socket's queue of connections not yet accepted."""

Startup = Callable[[object], Awaitable[None]]
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)


def count(configured: int) -> int:
    """Worker processes for ``[server] workers``: 0 means one per CPU this process may run on."""
    if configured > 0:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def listen(host: str, port: int, n: int) -> list[socket.socket]:
    """``n`` sockets listening on one (host, port) with ``SO_REUSEPORT``; port 0 takes one free port for all."""
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise ConfigError(f"server.workers = {n}: several workers need fork() and SO_REUSEPORT (Linux, BSD), "
                          f"which {sys.platform} lacks; set workers = 1")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ConfigError(f"server.host {host!r}: cannot listen there ({exc})") from exc
    sockets: list[socket.socket] = []
    try:
        for _ in range(n):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError as exc:
                raise ConfigError(f"server.workers = {n}: this system refuses SO_REUSEPORT ({exc}); "
                                  "set workers = 1") from exc
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            address = sock.getsockname()  # port 0: the others take the port the first one got
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if isinstance(exc, ConfigError):
            raise
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise ConfigError(f"server {host}:{port}: cannot listen ({why})") from exc
    return sockets


def serve(config: Config, host: str, port: int, workers: int, on_startup: Startup | None = None) -> int:
    """Serve until SIGTERM or SIGINT: in this process for one worker, else under a ``Supervisor``."""
    if workers <= 1:
        from aiohttp import web

        from .app import make_app

        app = make_app(config)
        if on_startup is not None:
            app.on_startup.append(on_startup)  # after the store, keys and caches are set up (cleanup_ctx)
        web.run_app(app, host=host, port=port, print=None, access_log=None)
        return 0
    sockets = listen(host, port, workers)
    try:
        asyncio.run(_prepare_store(config))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return Supervisor(config, sockets, on_startup).run()


async def _prepare_store(config: Config) -> None:
    """Open the store once before the workers start, so that its migrations (and SQLite's switch to WAL, which
    SQLite may refuse at once with "locked" rather than wait when two processes attempt it together) happen in one
    process instead of N racing ones."""
    from .store import open_store

    store = open_store(config.store.url)
    await store.open()
    await store.close()


@dataclass
class Slot:
    """One worker's place: its socket stays while the process in it changes."""

    index: int
    sock: socket.socket
    pid: int = 0
    started: float = 0.0
    ready: bool = False
    """Whether the process in it finished starting (store open, keys loaded, archive read)."""
    ever_ready: bool = False
    failures: int = 0
    restart_at: float | None = None


async def _contention(index: int, app: Any) -> None:
    """What sharing the SQLite file cost this worker: how long its write transactions waited for the lock."""
    from .context import CTX

    store = app[CTX].store if CTX in app else None
    waits = getattr(store, "lock_waits", 0)
    if waits:
        seconds = store.lock_wait_seconds  # type: ignore[union-attr]
        log.info("worker %d: %d write transactions waited %.3f s in all for the SQLite write lock (%.0f µs each "
                 "on average)", index, waits, seconds, seconds / waits * 1e6)


class Supervisor:
    """Forks the workers, restarts the ones that die, passes SIGTERM on and waits for them (see the module)."""

    def __init__(self, config: Config, sockets: list[socket.socket], on_startup: Startup | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config, self.on_startup, self.clock = config, on_startup, clock
        self.slots = [Slot(i, sock) for i, sock in enumerate(sockets)]
        # the inbox's backlog marks: 1 + 2 doubles per worker, shared with every process forked from here
        self.cells = memoryview(mmap.mmap(-1, 8 * (1 + 2 * len(sockets)))).cast("d")
        self.board = Board(self.cells)
        self.stopping = False
        self.failed: str | None = None

    # the supervisor's loop -------------------------------------------------------------------------------------
    def run(self) -> int:
        self._wakeup_r, wakeup_w = os.pipe()
        self._ready_r, self._ready_w = os.pipe()
        self._alive_r, self._alive_w = os.pipe()  # workers see EOF on it when the supervisor is gone
        for fd in (self._wakeup_r, wakeup_w, self._ready_r):
            os.set_blocking(fd, False)
        old_wakeup = signal.set_wakeup_fd(wakeup_w)
        handlers = {sig: signal.signal(sig, self._signalled) for sig in (signal.SIGTERM, signal.SIGINT)}
        handlers[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
        try:
            for slot in self.slots:
                self._fork(slot)
            log.info("%d workers on port %d (pids %s)", len(self.slots), self.slots[0].sock.getsockname()[1],
                     " ".join(str(s.pid) for s in self.slots))
            while not self.stopping:
                self._turn(self._timeout())
            return self._drain()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for fd in (self._wakeup_r, wakeup_w, self._ready_r, self._ready_w, self._alive_r, self._alive_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            for slot in self.slots:
                slot.sock.close()

    def _signalled(self, signum: int, frame: object) -> None:
        if self.stopping and signum == signal.SIGINT:  # a second Ctrl-C: no more waiting
            for slot in self.slots:
                self._kill(slot, signal.SIGKILL)
        self.stopping = True

    def _timeout(self) -> float:
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        return max(0.0, min(due) - self.clock()) if due else 1.0

    def _turn(self, timeout: float) -> None:
        """Wait for a signal, a ready worker or a restart due; then reap, note and restart."""
        with contextlib.suppress(InterruptedError):
            select.select([self._wakeup_r, self._ready_r], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wakeup_r, 512):
                pass
        self._read_ready()
        self._reap()
        if self.failed is not None:
            self.stopping = True
            return
        now = self.clock()
        for slot in self.slots:
            if slot.restart_at is not None and slot.restart_at <= now and not self.stopping:
                self._fork(slot)
                log.info("worker %d restarted (pid %d)", slot.index, slot.pid)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._ready_r, 512)
        except BlockingIOError:
            return
        for index in data:
            if index < len(self.slots):
                slot = self.slots[index]
                slot.ready = slot.ever_ready = True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is None:
                continue
            self._exited(slot, status)

    def _exited(self, slot: Slot, status: int) -> None:
        lived = self.clock() - slot.started
        how = (f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exited with status {os.waitstatus_to_exitcode(status)}")
        pid, slot.pid = slot.pid, 0
        self.board.reset(slot.index)
        if self.stopping:
            return
        if not slot.ever_ready and not os.WIFSIGNALED(status):
            # it gave up starting (its error is on stderr above): the next one would fail alike. One killed by a
            # signal before it was ready (kill -9, the OOM killer) is restarted like any other.
            self.failed = f"worker {slot.index} could not start: it {how}"
            log.error("%s; stopping", self.failed)
            return
        if lived >= SETTLED_SECONDS:
            slot.failures = 0
        delay = min(FIRST_RESTART_DELAY * 2 ** slot.failures, MAX_RESTART_DELAY)
        slot.failures += 1
        slot.restart_at = self.clock() + delay
        log.error("worker %d (pid %d) %s after %.1f s; restarting it in %g s", slot.index, pid, how,
                  lived, delay)

    def _drain(self) -> int:
        """Pass SIGTERM on and wait for every worker (bounded; SIGKILL after ``DRAIN_SECONDS``)."""
        for slot in self.slots:
            slot.restart_at = None
            self._kill(slot, signal.SIGTERM)
        deadline = self.clock() + DRAIN_SECONDS
        while any(s.pid for s in self.slots):
            left = deadline - self.clock()
            if left <= 0:
                for slot in self.slots:
                    if slot.pid:
                        log.error("worker %d (pid %d) did not stop within %g s: killed", slot.index, slot.pid,
                                  DRAIN_SECONDS)
                        self._kill(slot, signal.SIGKILL)
                deadline = self.clock() + 5.0
            self._turn(min(max(left, 0.05), 0.5))
        if self.failed is not None:
            raise FediError(self.failed)
        log.info("every worker stopped")
        return 0

    def _kill(self, slot: Slot, sig: int) -> None:
        if slot.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, sig)

    # a worker ---------------------------------------------------------------------------------------------------
    def _fork(self, slot: Slot) -> None:
        slot.restart_at, slot.ready, slot.started = None, False, self.clock()
        # signals wait until the child has its own handlers: the supervisor's would swallow a SIGTERM there
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
            slot.pid = pid
            return
        code = 1
        try:
            code = self._worker(slot)
        except FediError as exc:
            print(f"fedi: worker {slot.index}: {exc}", file=sys.stderr, flush=True)
        except BaseException:  # noqa: BLE001 - a forked child must never return into the supervisor's code
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _worker(self, slot: Slot) -> int:
        """The forked worker: the server of ``app`` on its own socket, until SIGTERM or the supervisor's death."""
        from aiohttp import web

        from .app import make_app

        signal.set_wakeup_fd(-1)
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        for fd in (self._wakeup_r, self._ready_r, self._alive_w):
            os.close(fd)
        for other in self.slots:
            if other is not slot:
                other.sock.close()
        for handler in logging.getLogger().handlers:
            handler.setFormatter(logging.Formatter(
                f"%(asctime)s %(levelname)s worker {slot.index} %(name)s: %(message)s"))
        ready_w, alive_r = self._ready_w, self._alive_r

        app = make_app(self.config, publishes=slot.index == 0, board=Board(self.cells, slot.index))
        if self.on_startup is not None:
            app.on_startup.append(self.on_startup)

        async def started(_: web.Application) -> None:
            import asyncio

            loop = asyncio.get_running_loop()

            def orphaned() -> None:
                loop.remove_reader(alive_r)
                log.warning("the supervisor is gone: stopping")
                os.kill(os.getpid(), signal.SIGTERM)  # the same drain as a SIGTERM

            stopping = False

            def stop_once() -> None:
                # the first SIGTERM or SIGINT drains; a second one (systemd and Ctrl-C signal every process,
                # and the supervisor passes SIGTERM on) must not cut the drain short, as aiohttp's handler would.
                # Two signals that arrive together queue this callback twice before either runs: hence the flag.
                nonlocal stopping
                if stopping:
                    return
                stopping = True
                raise web.GracefulExit()

            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop_once)
            loop.add_reader(alive_r, orphaned)
            os.write(ready_w, bytes([slot.index]))

        app.on_startup.append(started)
        app.on_cleanup.append(partial(_contention, slot.index))
        gc.collect()
        web.run_app(app, sock=slot.sock, print=None, access_log=None, handle_signals=True)
        return 0
