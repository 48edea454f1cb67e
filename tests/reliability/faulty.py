"""Broken remote servers: raw asyncio TCP servers on 127.0.0.x that misbehave the way real inboxes do.

aiohttp's server cannot misbehave on purpose (it always answers well-formed HTTP), so these speak just enough
HTTP/1.1 by hand to fail in each of these ways (``FaultyServer.mode``, switchable at any time):

- ``ok``: 202 at once (a healed server); the only mode in which a POST counts as ``accepted``.
- ``timeout``: reads the request, answers 202 only after ``slow`` seconds (longer than fedi's timeout).
- ``reset``: reads the request, then resets the connection (RST: SO_LINGER 0, then abort).
- ``error500``: 500 for the next ``failures`` requests, then ``ok`` (a server down for a while).
- ``trickle``: the response, one byte per second.
- ``redirect``: 307 to itself, for ever (a redirect loop; 307 keeps the method, so fedi follows it).
- ``huge``: 200 with a 50 MB body, written as fast as the client reads it.
- ``hang``: accepts the TCP connection and never reads nor answers.

``GET`` requests get the same treatment (a keyId on a broken server); in ``ok`` mode a GET of a path given to
``serve`` answers that document.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

MODES = ("ok", "timeout", "reset", "error500", "trickle", "redirect", "huge", "hang")
HUGE = 50 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class FaultyServer:
    def __init__(self, host: str, mode: str, slow: float, failures: int) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.host, self.mode, self.slow, self.failures = host, mode, slow, failures
        self.requests: list[Request] = []
        """Every request read (in ``hang`` mode none is)."""
        self.accepted: list[Request] = []
        """Requests answered 2xx in ``ok`` mode: what this server took in."""
        self.connections = 0
        self.bytes_sent = 0
        self.documents: dict[str, bytes] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.base = ""

    @classmethod
    async def start(cls, host: str, mode: str, *, slow: float = 5.0, failures: int = 1_000_000) -> FaultyServer:
        if not host.startswith("127."):
            raise ValueError("fault servers bind on 127.0.0.0/8 only")
        self = cls(host, mode, slow, failures)
        self._server = await asyncio.start_server(self._serve, host, 0)
        port = self._server.sockets[0].getsockname()[1]
        self.base = f"http://{host}:{port}"
        return self

    @property
    def domain(self) -> str:
        return self.base.split("://", 1)[1]

    def inbox(self, name: str) -> str:
        return f"{self.base}/users/{name}/inbox"

    def actor_id(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def serve(self, path: str, document: dict[str, Any]) -> str:
        self.documents[path] = json.dumps(document).encode()
        return self.base + path

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # the connection ---------------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                if self.mode == "hang":  # accept and hold: never read, never answer
                    await asyncio.sleep(3600)
                request = await self._read(reader)
                if request is None:
                    return
                self.requests.append(request)
                if not await self._answer(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _read(self, reader: asyncio.StreamReader) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
        return Request(method, path, headers, body)

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer in the current mode; False when the connection is over."""
        mode = self.mode
        if mode == "error500":
            if self.failures > 0:
                self.failures -= 1
                await self._write(writer, _response(500, b'{"error":"internal server error"}'))
                return True
            mode = "ok"
        if mode == "ok":
            if request.method == "GET":
                doc = self.documents.get(request.path)
                status = 200 if doc is not None else 404
                await self._write(writer, _response(status, doc or b"{}", "application/activity+json"))
                return True
            self.accepted.append(request)
            await self._write(writer, _response(202, b""))
            return True
        if mode == "timeout":
            await asyncio.sleep(self.slow)
            await self._write(writer, _response(202, b""))
            return True
        if mode == "reset":
            sock = writer.transport.get_extra_info("socket")
            if sock is not None:  # close with RST rather than FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if mode == "trickle":
            for byte in _response(202, b""):
                await self._write(writer, bytes([byte]))
                await asyncio.sleep(1.0)
            return True
        if mode == "redirect":
            await self._write(writer, _response(307, b"", headers={"Location": request.path}))
            return True
        if mode == "huge":
            head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\nContent-Length: {HUGE}\r\n\r\n"
                    ).encode()
            await self._write(writer, head)
            chunk = b"x" * (256 * 1024)
            for _ in range(HUGE // len(chunk)):
                await self._write(writer, chunk)
            return True
        raise AssertionError(mode)

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_sent += len(data)


def _response(status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> bytes:
    reason = {200: "OK", 202: "Accepted", 307: "Temporary Redirect", 404: "Not Found",
              500: "Internal Server Error"}[status]
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
            "\r\n").encode() + body
