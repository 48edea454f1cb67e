"""A PostgreSQL server for the tests: the one ``FEDI_TEST_POSTGRES`` names, or a throwaway cluster.

``FEDI_TEST_POSTGRES`` is the URL of a server (and of a database to connect to for administration) where the
tests may create and drop databases, e.g. ``postgresql://postgres@/postgres?host=/run/postgresql``. Unset, the
tests start their own cluster with the server binaries of Debian's ``postgresql`` package (``initdb``, then
``postgres`` as a child process that ends with the test run, however it ends), in a temporary folder, listening
only on a unix socket there, without fsync (a test cluster); as the ``postgres`` user (or ``nobody``) when
running as root. It is stopped and removed at the end of the session.

    server = PgServer.start()
    url = server.create_database()   # a fresh, empty database for one test
    server.drop_database(url)
    server.close()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV = "FEDI_TEST_POSTGRES"

SETTINGS = {
    "listen_addresses": "''", "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "max_connections": "300", "shared_buffers": "64MB",
}
"""A disposable cluster: durability off (it is thrown away), room for many pools at once."""


class Unavailable(Exception):
    """No server to test against, and why."""


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: the newest /usr/lib/postgresql/N/bin (Debian), else the PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]),
                   reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> dict[str, Any]:
    """Popen options to run the server as an unprivileged user: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            user = pwd.getpwnam(name)
            return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise Unavailable("running as root and there is neither a 'postgres' nor a 'nobody' user to run the server")


def _die_with_parent() -> None:
    """In the server's process, before it runs: SIGQUIT when its parent (the test run) ends (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # 1 = PR_SET_PDEATHSIG


def _ready(data: Path) -> bool:
    """postmaster.pid's 8th line says "ready" once the server accepts connections (PostgreSQL 10+)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


class PgServer:
    def __init__(self, admin_url: str, stop: Callable[[], None] | None = None, origin: str = "") -> None:
        self.admin_url = admin_url
        self.origin = origin
        self._stop = stop
        self._names = (f"fedi_t{os.getpid()}_{n}" for n in itertools.count(1))
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fedi-test-pg")
        self._template: str | None = None

    @classmethod
    def start(cls, base: Path | None = None) -> PgServer:
        """The server of ``FEDI_TEST_POSTGRES`` or a new throwaway cluster; Unavailable says why neither."""
        url = os.environ.get(ENV)
        server = cls(url, origin=f"{ENV}") if url else cls._cluster(base)
        try:
            server._admin("SELECT 1")
        except Exception as exc:
            server.close()
            raise Unavailable(f"cannot connect to the PostgreSQL server ({server.origin}): {exc}") from exc
        return server

    @classmethod
    def _cluster(cls, base: Path | None) -> PgServer:
        bindir = _bindir()
        if bindir is None or not (bindir / "postgres").exists():
            raise Unavailable(f"{ENV} is not set and no PostgreSQL server binaries (initdb, postgres) were found; "
                              f"install Debian's 'postgresql' package or set {ENV}")
        options = _run_as()
        # /tmp, not pytest's folder: the server's user must reach it, and a socket path has ~100 bytes at most
        folder = Path(tempfile.mkdtemp(prefix="fedi-pg-", dir=base or "/tmp"))
        if options:
            os.chown(folder, options["user"], options["group"])
        data = folder / "data"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(folder)}
        done = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                               "--locale=C", "--no-sync"], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=120, **options)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise Unavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-400:]}")
        settings = [arg for k, v in SETTINGS.items() for arg in ("-c", f"{k}={v.strip(chr(39))}")]
        with open(folder / "server.log", "wb") as log:
            # The server is this process's child and gets SIGQUIT (immediate shutdown) when it dies, however it
            # dies: a killed test run leaves no server behind.
            server = subprocess.Popen([str(bindir / "postgres"), "-D", str(data), "-k", str(folder), "-p", "5432",
                                       *settings], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      preexec_fn=_die_with_parent, **options)

        def stop() -> None:
            if server.poll() is None:
                server.send_signal(signal.SIGQUIT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(30)
            shutil.rmtree(folder, ignore_errors=True)

        atexit.register(stop)  # even if the session ends without its finalizers
        deadline = time.monotonic() + 60
        while not _ready(data):
            if server.poll() is not None or time.monotonic() > deadline:
                log_text = (folder / "server.log").read_text(errors="replace").strip()[-400:]
                stop()
                raise Unavailable(f"the throwaway PostgreSQL server did not start: {log_text}")
            time.sleep(0.05)
        return cls(f"postgresql://postgres@/postgres?host={folder}&port=5432", stop,
                   origin=f"throwaway cluster in {folder}, {bindir}")

    # administration, on a thread of its own (a test's event loop may be running) --------------------------------
    def _admin(self, *statements: str) -> None:
        async def run() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.admin_url, timeout=10)
            try:
                for sql in statements:
                    await conn.execute(sql)
            finally:
                await conn.close()
        self._thread.submit(asyncio.run, run()).result()

    def create_database(self, migrated: bool = False) -> str:
        """A fresh database, empty or (``migrated``) holding fedi's current schema; returns its URL.

        A migrated one is a copy of a template migrated once per session: cheaper than migrating each."""
        template = self._migrated_template() if migrated else "template0"
        name = next(self._names)
        try:  # FILE_COPY (PostgreSQL 15+) copies the tiny template at once instead of through the WAL
            self._admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
        except Exception:
            self._admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return _with_database(self.admin_url, name)

    def _migrated_template(self) -> str:
        if self._template is None:
            url = self.create_database()

            async def migrate() -> None:
                from fedi.store import open_store

                async with open_store(url):
                    pass
            self._thread.submit(asyncio.run, migrate()).result()
            self._template = urlsplit(url).path.lstrip("/")
        return self._template

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        try:  # FORCE (PostgreSQL 13+) ends connections a test left open
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception:
            self._admin(f"DROP DATABASE IF EXISTS {name}")

    def close(self) -> None:
        if self._template is not None:
            with contextlib.suppress(Exception):
                self.drop_database(_with_database(self.admin_url, self._template))
        self._thread.shutdown(wait=True)
        if self._stop is not None:
            self._stop()
            self._stop = None
