"""The simulated fediverse: ONE process answering for many remote servers, each on its own loopback address.

Host i listens on 127.1.x.y (``address(i)``), all on the same port, so every remote server is a distinct host to
fedi's per-host limits and connection pools, as on the real network, and no packet leaves 127.0.0.0/8.

Actors (``/users/NAME`` → their public key) are served on every host. Every POST is counted per inbox URL and
its draft-cavage signature (and Digest) is checked against the keys given in the spec, with code of our own;
the server answers 202 as Mastodon does. A control site on 127.0.0.1 reports the counts (``GET /stats``) and
forgets them (``POST /reset``).

    python -m bench.world SPEC.json   # {"addresses": [...], "keys": {keyId: PEM}, "actors": {path: PEM}}
    → prints {"port": P, "control": C} once listening; runs until SIGTERM.

``audience`` (pure) draws the followers of a fan-out: a few big servers and a long tail of small ones.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import random
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

SIGNATURE_PARAM = re.compile(r'([a-zA-Z]+)="([^"]*)"')


def address(index: int) -> str:
    """The loopback address of simulated host ``index`` (0 → 127.1.0.1; 250 per third octet)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


@dataclass(frozen=True)
class RemoteHost:
    address: str
    shared: bool
    """Whether its actors list a shared inbox (``endpoints.sharedInbox``)."""
    followers: int


def audience(followers: int, hosts: int, no_shared: int, seed: int = 2010) -> list[RemoteHost]:
    """``followers`` spread over ``hosts`` like the fediverse: a Zipf law (a few big servers, a long tail).

    Every host has at least one follower. The ``no_shared`` hosts without a shared inbox are drawn among the
    small ones (the biggest 1% run software that has one), so their followers each cost a POST.
    """
    if not 0 < hosts <= followers:
        raise ValueError("need 1 ≤ hosts ≤ followers")
    weights = [1 / (rank + 1) ** 1.1 for rank in range(hosts)]
    total = sum(weights)
    rest = followers - hosts
    counts = [1 + int(rest * w / total) for w in weights]
    for i in range(followers - sum(counts)):
        counts[i % hosts] += 1
    rng = random.Random(seed)
    big = max(1, hosts // 100)
    without = set(rng.sample(range(big, hosts), min(no_shared, hosts - big)))
    return [RemoteHost(address(i), i not in without, counts[i]) for i in range(hosts)]


def follower_rows(world: list[RemoteHost], port: int) -> list[tuple[str, str, str | None]]:
    """(actor id, inbox, shared inbox) of every follower of the audience."""
    rows = []
    for host in world:
        base = f"http://{host.address}:{port}"
        shared = f"{base}/inbox" if host.shared else None
        for j in range(host.followers):
            actor = f"{base}/users/u{j}"
            rows.append((actor, f"{actor}/inbox", shared))
    return rows


def expected_inboxes(world: list[RemoteHost], port: int) -> set[str]:
    return {shared or inbox for _, inbox, shared in follower_rows(world, port)}


# the server ---------------------------------------------------------------------------------------------------

class World:
    def __init__(self, keys: dict[str, str], actors: dict[str, str]) -> None:
        from cryptography.hazmat.primitives import serialization

        self.keys = {key_id: serialization.load_pem_public_key(pem.encode()) for key_id, pem in keys.items()}
        self.actors = actors
        self.reset()

    def reset(self) -> None:
        self.inboxes: dict[str, int] = {}
        self.posts = self.bad = self.gets = 0
        self.first = self.last = 0.0
        self.errors: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            body = await request.read()
            now = time.monotonic()
            self.first = self.first or now
            self.last = now
            self.posts += 1
            url = f"http://{request.host}{request.path}"
            self.inboxes[url] = self.inboxes.get(url, 0) + 1
            problem = self.check(request, body)
            if problem:
                self.bad += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{url}: {problem}")
            return web.Response(status=202)
        self.gets += 1
        if request.method == "GET" and request.path in self.actors:
            actor_id = f"http://{request.host}{request.path}"
            return web.json_response(actor_document(actor_id, self.actors[request.path]),
                                     content_type="application/activity+json")
        return web.Response(status=404)

    def check(self, request: web.Request, body: bytes) -> str | None:
        """A draft-cavage signature over what it names, by a known key, and a matching Digest."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = request.headers.get("Signature")
        if not header:
            return "not signed"
        params = dict(SIGNATURE_PARAM.findall(header))
        key = self.keys.get(params.get("keyId", ""))
        if key is None:
            return f"unknown key {params.get('keyId')}"
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if request.headers.get("Digest") != digest:
            return "digest does not match the body"
        lines = []
        for name in params.get("headers", "date").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {request.method.lower()} {request.path_qs}")
            else:
                lines.append(f"{name}: {request.headers.get(name, '')}")
        if "digest" not in params.get("headers", ""):
            return "the digest is not signed"
        try:
            key.verify(base64.b64decode(params.get("signature", "")), "\n".join(lines).encode(),  # type: ignore
                       padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return "signature does not verify"
        return None

    async def control(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            self.reset()
            return web.json_response({"ok": True})
        return web.json_response({"posts": self.posts, "bad": self.bad, "gets": self.gets, "first": self.first,
                                  "last": self.last, "inboxes": self.inboxes, "errors": self.errors})


def actor_document(actor_id: str, pem: str) -> dict[str, Any]:
    base = actor_id.split("/users/")[0]
    return {"@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor_id, "type": "Person", "preferredUsername": actor_id.rsplit("/", 1)[1],
            "inbox": f"{actor_id}/inbox", "outbox": f"{actor_id}/outbox", "followers": f"{actor_id}/followers",
            "endpoints": {"sharedInbox": f"{base}/inbox"},
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id, "publicKeyPem": pem}}


def listen_all(addresses: list[str]) -> tuple[int, list[socket.socket]]:
    """One listening socket per address, all on the same free port."""
    for _ in range(20):
        sockets: list[socket.socket] = []
        port = 0
        try:
            for addr in addresses:
                s = socket.socket()
                sockets.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
                port = port or s.getsockname()[1]
                s.listen(1024)
                s.setblocking(False)
            return port, sockets
        except OSError as exc:
            for s in sockets:
                s.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no port free on every simulated host address")


async def serve(spec: dict[str, Any]) -> None:
    world = World(spec.get("keys", {}), spec.get("actors", {}))
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", world.handle)
    control = web.Application()
    control.router.add_route("*", "/{tail:.*}", world.control)
    runner, control_runner = web.AppRunner(app, access_log=None), web.AppRunner(control, access_log=None)
    await runner.setup()
    await control_runner.setup()
    port, sockets = listen_all(spec["addresses"])
    for s in sockets:
        await web.SockSite(runner, s).start()
    site = web.TCPSite(control_runner, "127.0.0.1", 0)
    await site.start()
    control_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"port": port, "control": control_port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await control_runner.cleanup()


# talking to it from the benchmark ----------------------------------------------------------------------------------

async def stats(control: int) -> dict[str, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{control}/stats") as resp:
        return await resp.json()


async def reset(control: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(f"http://127.0.0.1:{control}/reset") as resp:
        await resp.read()


async def wait_posts(control: int, count: int, timeout: float) -> dict[str, Any]:
    """Poll until ``count`` POSTs arrived (or ``timeout``); the stats then."""
    deadline = time.monotonic() + timeout
    while True:
        current = await stats(control)
        if current["posts"] >= count or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(serve(json.load(f)))
