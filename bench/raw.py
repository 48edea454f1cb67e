"""The raw baselines: the least a Python/aiohttp program can do for the same job on the same machine.

    python -m bench.raw bytes SPEC.json    # GET → the same bytes fedi served ({"documents": [[path, form, type, b64]]})
    python -m bench.raw inbox SPEC.json    # POST → Digest + one RSA-2048 verification (parsed key) + json.loads → 202
    python -m bench.raw fanout SPEC.json   # the same signed POSTs as a fan-out, by a bare aiohttp client loop
    python -m bench.raw idle               # an aiohttp server with cryptography loaded, answering WebFinger

Servers print {"port": P} once listening and run until SIGTERM; ``fanout`` prints its figures and exits.
Imports are those of the job only (aiohttp, cryptography), so start-up and memory are the floor too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import signal
import sys
import time
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

SIGNATURE_PARAM = re.compile(r'([a-zA-Z]+)="([^"]*)"')
PKCS1, SHA256 = padding.PKCS1v15(), hashes.SHA256()


async def _serve(app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(json.dumps({"port": site._server.sockets[0].getsockname()[1]}), flush=True)  # type: ignore[union-attr]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def bytes_app(spec: dict[str, Any]) -> web.Application:
    """Each document by (path and query, whether the client asked for HTML), as fedi negotiates it."""
    documents = {(path, form): (kind, base64.b64decode(body)) for path, form, kind, body in spec["documents"]}

    async def handle(request: web.Request) -> web.Response:
        form = "html" if "text/html" in request.headers.get("Accept", "") else "as2"
        kind, body = documents[(request.path_qs, form)]
        return web.Response(body=body, headers={"Content-Type": kind, "Vary": "Accept"})

    app = web.Application()
    for path in {p.split("?")[0] for p, _ in documents}:
        app.router.add_get(path, handle)
    return app


def inbox_app(spec: dict[str, Any]) -> web.Application:
    keys = {key_id: serialization.load_pem_public_key(pem.encode()) for key_id, pem in spec["keys"].items()}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        params = dict(SIGNATURE_PARAM.findall(request.headers.get("Signature", "")))
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if request.headers.get("Digest") != digest:
            return web.Response(status=401)
        lines = [f"(request-target): post {request.path_qs}" if name == "(request-target)"
                 else f"{name}: {request.headers.get(name, '')}" for name in params.get("headers", "").split()]
        try:
            keys[params["keyId"]].verify(base64.b64decode(params["signature"]), "\n".join(lines).encode(),
                                         PKCS1, SHA256)
        except (KeyError, InvalidSignature, ValueError):
            return web.Response(status=401)
        json.loads(body)
        return web.Response(status=202, body=b"{}", content_type="application/json")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


def idle_app() -> web.Application:
    body = json.dumps({"subject": "acct:archive@127.0.0.1", "links": []}).encode()

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/jrd+json")

    app = web.Application()
    app.router.add_get("/.well-known/webfinger", handle)
    return app


async def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """Sign and POST the body to every target: at most ``concurrency`` at once and ``per_host`` per host."""
    import aiohttp

    started = time.perf_counter()
    with open(spec["key_path"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    body = spec["body"].encode()
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    targets = list(spec["targets"])
    random.Random(1).shuffle(targets)  # neighbours in a sorted list share a host: spread them
    gate = asyncio.Semaphore(spec["concurrency"])
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=spec["concurrency"], limit_per_host=spec["per_host"])

    async def post(session: aiohttp.ClientSession, url: str) -> None:
        async with gate:
            host = url.split("/")[2]
            target = "/" + url.split("/", 3)[3]
            date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
            text = f"(request-target): post {target}\nhost: {host}\ndate: {date}\ndigest: {digest}"
            signature = base64.b64encode(key.sign(text.encode(), PKCS1, SHA256)).decode()  # type: ignore
            headers = {"Host": host, "Date": date, "Digest": digest, "Content-Type": "application/activity+json",
                       "Signature": f'keyId="{spec["key_id"]}",algorithm="rsa-sha256",'
                                    f'headers="(request-target) host date digest",signature="{signature}"'}
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

    async with aiohttp.ClientSession(connector=connector) as session:
        sending = time.perf_counter()
        await asyncio.gather(*(post(session, url) for url in targets))
        done = time.perf_counter()
    return {"posts": sum(statuses.values()), "ok": sum(n for s, n in statuses.items() if 200 <= s < 300),
            "seconds": round(done - started, 3), "sending_seconds": round(done - sending, 3),
            "cpu_seconds": round(time.process_time(), 2)}


def main(argv: list[str]) -> None:
    kind = argv[0]
    spec: dict[str, Any] = {}
    if len(argv) > 1:
        with open(argv[1]) as f:
            spec = json.load(f)
    if kind == "fanout":
        print(json.dumps(asyncio.run(fanout(spec))), flush=True)
        return
    app = {"bytes": lambda: bytes_app(spec), "inbox": lambda: inbox_app(spec), "idle": idle_app}[kind]()
    asyncio.run(_serve(app))


if __name__ == "__main__":
    main(sys.argv[1:])
