"""What every scenario shares: sizes, a throw-away archive, subprocesses, RSS, percentiles, a cavage signer.

Everything runs on this machine: fedi and the baselines listen on 127.0.0.1, the simulated remote servers on
other addresses of 127.0.0.0/8 (``world``). Every process started here is ended by the ``Processes`` that
started it, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SAMPLE_OUTBOX = ROOT / "outbox"
AS2 = "application/activity+json"


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is: the full run (``make bench``) or the smoke run (a few seconds, for the tests)."""

    name: str
    fanout_followers: int
    fanout_hosts: int
    fanout_no_shared: int
    """Hosts without a shared inbox: each of their followers is one POST."""
    fanout_rounds: int
    """Publications timed per side, fedi and raw in turns; the median is kept."""
    concurrency: int
    per_host: int
    inbox_activities: int
    inbox_actors: int
    inbox_connections: int
    inbox_rounds: int
    """Parts the flood is cut in, each sent to fedi then to raw (in turns, against the machine's noise)."""
    reads_seconds: float
    reads_warmup: float
    """Seconds of load before each measured run, not counted (lazy caches fill, connections open)."""
    reads_rounds: int
    """Measured runs per document and side, fedi and raw in turns; the median is kept."""
    reads_connections: int
    memory_followers: int
    memory_hosts: int
    memory_no_shared: int
    startup_followers: int
    startup_talks: int
    startup_runs: int
    deadline: float
    """Seconds any one wait may last before the scenario gives up (bounded in time)."""
    scale_followers: int = 5_000
    scale_hosts: int = 500
    scale_no_shared: int = 100
    scale_actors: int = 200
    scale_activities: int = 2_000
    """Inbox activities per worker count (each run its own, so none is a replay)."""
    scale_workers: tuple[int, ...] = (1, 2, 4)
    """Worker processes on one PostgreSQL database (bench/scale.py)."""


FULL = Sizes("full", fanout_followers=10_000, fanout_hosts=1_000, fanout_no_shared=200, fanout_rounds=5,
             concurrency=64, per_host=4, inbox_activities=12_000, inbox_actors=200, inbox_connections=64,
             inbox_rounds=3, reads_seconds=1.0, reads_warmup=1.0, reads_rounds=3, reads_connections=64,
             memory_followers=100_000, memory_hosts=1_000, memory_no_shared=200, startup_followers=100_000,
             startup_talks=1_000, startup_runs=3, deadline=120.0)
SMOKE = Sizes("smoke", fanout_followers=120, fanout_hosts=20, fanout_no_shared=4, fanout_rounds=1,
              concurrency=16, per_host=4, inbox_activities=120, inbox_actors=12, inbox_connections=8,
              inbox_rounds=1, reads_seconds=0.2, reads_warmup=0.0, reads_rounds=1, reads_connections=8,
              memory_followers=500, memory_hosts=20, memory_no_shared=4, startup_followers=500, startup_talks=12,
              startup_runs=1, deadline=60.0, scale_followers=60, scale_hosts=10, scale_no_shared=2,
              scale_actors=8, scale_activities=60, scale_workers=(1, 2))


# numbers ---------------------------------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ratio(fedi: float, raw: float) -> float | None:
    return round(fedi / raw, 3) if raw else None


def paired_ratio(fedi_runs: list[dict[str, Any]], raw_runs: list[dict[str, Any]], key: str) -> float | None:
    """The median of each round's fedi / raw. A round runs fedi and raw back to back, so the slow drifts of a
    shared VM (±20 % over a minute here) fall on both sides of one ratio rather than between two medians."""
    ratios = sorted(x for f, r in zip(fedi_runs, raw_runs, strict=True) if (x := ratio(f[key], r[key])))
    return ratios[len(ratios) // 2] if ratios else None


def rounded(value: float, digits: int = 1) -> float:
    return round(value, digits)


# processes -------------------------------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    """The environment of child processes: this checkout first on the path, no proxy settings."""
    out = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    out["PYTHONPATH"] = str(ROOT) + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    out["PYTHONDONTWRITEBYTECODE"] = "1"
    return out


@dataclass
class Processes:
    """Children started by one scenario, each ended (SIGTERM, then SIGKILL) by ``close``."""

    logs: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], stdout_pipe: bool = False) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        err = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        # its own process group, so that stopping it also stops what it started (py-spy's child)
        proc = subprocess.Popen(list(args), stdout=subprocess.PIPE if stdout_pipe else err, stderr=err,
                                stdin=subprocess.DEVNULL, env=env(), cwd=ROOT, start_new_session=True)
        err.close()
        self.children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int | None:
        if proc.poll() is None:
            # py-spy writes its samples on SIGINT (Ctrl-C); everything else stops cleanly on SIGTERM
            sig = signal.SIGINT if PROFILE.py_spy and proc.args[0] == PROFILE.py_spy else signal.SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for pid in group_members(proc.pid):  # what it started and left behind (py-spy's child)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                print(f"bench: {proc.args[:6]} did not stop within {timeout:g} s of SIGTERM: killed", file=sys.stderr)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def close(self) -> None:
        for proc in reversed(self.children):
            self.stop(proc)
        self.children.clear()

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def group_members(pgid: int) -> list[int]:
    """The processes still in process group ``pgid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry))
    return found


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The first stdout line of a helper process, a JSON object (it says it is ready and where it listens)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = proc.stdout.read()
        if chunk:
            buffer += chunk
            if b"\n" in buffer:
                return json.loads(buffer.split(b"\n", 1)[0])
        elif proc.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"{proc.args[:4]} did not say it was ready within {timeout:g} s (exit {proc.poll()})")


def wait_cpu(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Wait for a child to exit; (exit status, CPU seconds it used, user + system, from wait4)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        time.sleep(0.005)
    raise RuntimeError(f"{proc.args[:6]} did not finish within {timeout:g} s")


def run_json(procs: Processes, name: str, args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a helper to completion and read the JSON object it prints last."""
    proc = procs.start(name, args, stdout_pipe=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        raise RuntimeError(f"{name} did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {proc.returncode}): {procs.log(name)}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
                    interval: float = 0.005, expect: int = 200) -> float:
    """Poll ``url`` until it answers ``expect``; the monotonic time of that answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited ({proc.returncode}) before answering {url}")
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(interval)
            continue
        try:
            writer.write(request)
            line = await asyncio.wait_for(reader.readline(), 5)
        except (OSError, TimeoutError):
            line = b""
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if line.split(b" ")[1:2] == [str(expect).encode()]:
            return time.monotonic()
        await asyncio.sleep(interval)
    raise RuntimeError(f"{url} did not answer {expect} within {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """A process's children (``fedi serve --workers N``: its workers), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its living descendants (a supervisor and its workers, under py-spy or not)."""
    total = 0.0
    with contextlib.suppress(OSError):
        total = cpu_seconds(pid)
    return total + sum(tree_cpu_seconds(child) for child in children(pid))


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have exited (a load generator, once it is done)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pss_mb(pid: int) -> float:
    """A process's proportional set size in MiB (its own pages, plus its share of the pages it shares with
    others: a forked worker shares most of what its supervisor loaded), from /proc/PID/smaps_rollup."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (VmRSS, VmHWM)."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
    return round(values["VmRSS"], 1), round(values["VmHWM"], 1)


# the archive -------------------------------------------------------------------------------------------------------

@dataclass
class _Profile:
    folder: Path | None = None
    count: int = 0
    py_spy: str | None = None
    """A py-spy binary: sample fedi with it (flame-graph text, no overhead in the code) instead of cProfile."""


PROFILE = _Profile()
"""Where ``--profile`` keeps a cProfile of every fedi process (None: fedi runs as it is)."""


@dataclass(frozen=True)
class Archive:
    root: Path
    port: int

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def store_path(self) -> Path:
        return self.root / "fedi.sqlite3"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fedi(self, *args: str) -> list[str]:
        """The command line of a fedi command on this archive (under cProfile with ``--profile``)."""
        command = [PYTHON, "-m", "fedi.cli", "--config", str(self.config_path), *args]
        if PROFILE.folder is None:
            return command
        PROFILE.folder.mkdir(parents=True, exist_ok=True)
        PROFILE.count += 1
        name = PROFILE.folder / f"{self.root.name}-{args[0]}-{PROFILE.count}"
        if PROFILE.py_spy:
            # --subprocesses: the workers of `serve --workers 2` are sampled too
            return [PROFILE.py_spy, "record", "--subprocesses", "--format", "raw", "--rate", "500", "--output",
                    f"{name}.txt", "--", *command]
        return [PYTHON, "-m", "cProfile", "-o", f"{name}.prof", *command[1:]]

    def load(self) -> Any:
        from fedi import config as config_mod

        return config_mod.load(self.config_path)


def make_archive(root: Path, keys: Path, sizes: Sizes, *, watch_seconds: float = 0, talks: int = 0,
                 sample: bool = True, store_url: str | None = None) -> Archive:
    """config.toml, keys/ (copied: generating RSA keys costs), outbox/ with the sample talks and ``talks`` more."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    shutil.copytree(keys, root / "keys")
    if sample:
        shutil.copytree(SAMPLE_OUTBOX, root / "outbox")
    else:
        (root / "outbox" / "images").mkdir(parents=True)
        shutil.copytree(SAMPLE_OUTBOX / "images", root / "outbox" / "images", dirs_exist_ok=True)
    for i in range(talks):
        write_talk(root / "outbox", f"bench-{i:05d}", i)
    port = free_port()
    (root / "config.toml").write_text(f"""\
[server]
host = "127.0.0.1"
port = {port}
base_url = "http://127.0.0.1:{port}"

[actor]
username = "archive"
name = "Ars Industrialis — archives des séances"
summary = "Les enregistrements des séances publiques.\\n\\nUn second paragraphe."
icon = "images/archive-icon.png"
image = "images/archive-header.jpg"

[owner]
username = "arsindustrialis"
name = "Ars Industrialis"
icon = "images/owner-icon.png"
url = "https://arsindustrialis.org"

[archive]
dir = "outbox"
language = "fr"
watch_seconds = {watch_seconds}

[security]
allow_private_addresses = true

[delivery]
concurrency = {sizes.concurrency}
per_host = {sizes.per_host}
timeout = 10
""" + (f'\n[store]\nurl = "{store_url}"\n' if store_url else ""), encoding="utf-8")
    return Archive(root, port)


def write_talk(outbox: Path, slug: str, index: int) -> Path:
    """A talk entry shaped like the sample ones (remote video, a local poster)."""
    poster = ("aigrain", "giffard", "stiegler", "zimmermann")[index % 4]
    path = outbox / f"{slug}.toml"
    path.write_text(f"""\
title = "Séance {index} — Économie de la contribution et technologies de l'esprit"
speakers = ["Intervenant {index}", "Bernard Stiegler"]
recorded = 2010-03-06T15:07:00+01:00
event = "Ars Industrialis — séance publique {index}"
place = "La Colline – Théâtre national, Paris 20e"
tags = ["arsindustrialis", "contribution", "seance{index}"]
license = "https://creativecommons.org/licenses/by-nc-sa/3.0/fr/"
duration = "PT45M12S"
thumbnail = "images/{poster}.jpg"
summary = \"\"\"
Un enregistrement de la séance {index}, sur l'économie de la contribution et le logiciel libre.

Second paragraphe : la discussion avec la salle, les questions et les réponses.
\"\"\"

[[media]]
url = "https://videos.example.org/arsindustrialis/{slug}.webm"
type = "video/webm"
size = 156540117
width = 640
height = 360
fps = 25
""", encoding="utf-8")
    return path


async def publish_all(archive: Archive) -> int:
    """Publish every entry of the archive (followers none yet, so nothing is queued); the talks published."""
    from fedi import publish, talks
    from fedi.config import urls_for
    from fedi.store import open_store

    config = archive.load()
    loaded, problems = talks.load_archive(config.archive.dir, config.archive.language)
    if problems:
        raise RuntimeError(f"bench archive has broken entries: {problems[:3]}")
    async with open_store(config.store.url) as store:
        await publish.sync(config, urls_for(config), store, loaded, dt.datetime.now(dt.UTC))
        return await store.count_live_talks()


@dataclass(frozen=True)
class Seeded:
    followers: int
    targets: frozenset[str]
    """The distinct inboxes a Create to the archive's followers must reach, each exactly once."""


async def seed_followers(archive: Archive, rows: Iterable[tuple[str, str, str | None]], role: str = "archive") -> None:
    """Store accepted followers (actor id, inbox, shared inbox) in one transaction.

    ``store.add_follower`` takes one transaction per follower (about 6,000 a second here: 17 s for 100,000), so
    the rows go in through ``store.import_rows`` (what ``fedi migrate`` uses) with the columns ``add_follower``
    fills (``target``: the shared inbox, else the inbox; ``target_host``: its authority). ``check_seeded`` then
    reads them back through the ordinary API.
    """
    from fedi.store import open_store

    since = dt.datetime.now(dt.UTC)
    values = []
    for actor_id, inbox, shared in rows:
        target = shared or inbox
        values.append({"role": role, "actor_id": actor_id, "inbox": inbox, "shared_inbox": shared,
                       "host": urlsplit(actor_id).netloc.lower(), "follow_id": None, "since": since,
                       "state": "accepted", "target": target, "target_host": urlsplit(target).netloc.lower()})
    async with open_store(archive.load().store.url) as store:
        await store.import_rows("followers", values)


async def check_seeded(archive: Archive, followers: int, targets: int) -> None:
    """The store's own API sees the seeded followers and fans out to exactly the expected inboxes."""
    from fedi.store import open_store

    async with open_store(archive.load().store.url) as store:
        counted = await store.count_followers("archive")
        found = len(await store.delivery_targets(["archive"]))
    if (counted, found) != (followers, targets):
        raise RuntimeError(f"seeded {followers} followers / {targets} inboxes, the store sees {counted} / {found}")


def generate_keys(folder: Path) -> Path:
    from fedi import keys

    keys.load_or_create(folder)
    return folder


def remote_keys(work: Path, prefix: str, count: int) -> tuple[list[str], list[str]]:
    """RSA-2048 keys for the simulated remote actors: (private key files, public PEMs)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    files, pems = [], []
    for k in range(count):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path = work / f"{prefix}-{k}.pem"
        path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        files.append(str(path))
        pems.append(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    return files, pems


# a draft-cavage signer of our own (Mastodon's shape), for the load generators and the raw baselines -----------

def load_private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def cavage_headers(private_key: Any, key_id: str, method: str, url: str, body: bytes | None,
                   now: float | None = None) -> dict[str, str]:
    """Host, Date, Digest, Content-Type and Signature over ``(request-target) host date digest``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, "Date": formatdate(now or time.time(), usegmt=True)}
    names = ["(request-target)", "host", "date"]
    lines = [f"(request-target): {method.lower()} {target}", f"host: {headers['Host']}", f"date: {headers['Date']}"]
    if body is not None:
        headers["Digest"] = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        headers["Content-Type"] = AS2
        names.append("digest")
        lines.append(f"digest: {headers['Digest']}")
    signature = private_key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
                            f'signature="{base64.b64encode(signature).decode()}"')
    return headers
