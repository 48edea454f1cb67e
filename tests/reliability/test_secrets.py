"""The private keys never leave their files: not in logs, error messages, HTTP answers, what fedi sends, the store
or the output of any command; the files are 0600 and fedi refuses to start when they are readable by others.

A full run — ``fedi --verbose serve`` followed, publishing, delivering (to a healthy server, to one refusing our
signature, to one answering 500), refusing bad requests, plus every read-only command with ``--verbose`` — and the
same in one process with every log record at DEBUG captured (tracebacks included); then everything it produced is
searched for any form of the key: PEM lines, the DER in base64, and the private numbers d, p, q, dp, dq, qi in
decimal, hexadecimal and base64url (a JWK).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fedi import cli
from fedi import config as config_mod
from fedi import keys as keys_mod
from fedi.config import urls_for
from fedi.urls import ARCHIVE, OWNER, ROLES
from tests.conftest import ENTRY, ROOT, write_config
from tests.fedi_app import AS, FediApp, free_port
from tests.reliability.common import Fedi, record, run_fedi, sqlite_only, until
from tests.remote import AS2, RemoteServer, Reply

pytestmark = pytest.mark.usefixtures("loopback_only")


def b64url(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forms(key: rsa.RSAPrivateKey) -> list[str]:
    """Every way the private key could show up in text."""
    found = []
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
        found += [line for line in pem.splitlines() if line and not line.startswith("-----")]
        der = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        found += [base64.b64encode(der).decode()[:60], base64.urlsafe_b64encode(der).decode()[100:160]]
    numbers = key.private_numbers()
    for n in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp):
        found += [str(n)[:40], f"{n:x}"[:40], f"{n:X}"[:40], b64url(n)[:40]]
    # the private DER also holds the modulus, which is public (served in every actor document): a chunk of it
    # that happens to line up with the public key's own base64 is no leak
    public = key.public_key()
    shown = "".join(public.public_bytes(serialization.Encoding.PEM, fmt).decode() for fmt in (
        serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1))
    shown = "".join(line for line in shown.splitlines() if not line.startswith("-----"))
    shown += "".join(base64.b64encode(public.public_bytes(serialization.Encoding.DER, fmt)).decode() for fmt in (
        serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1))
    return [f for f in found if f not in shown]


def leaks(text: str, secret_forms: list[str]) -> list[str]:
    squeezed = "".join(text.split())  # a PEM line split or wrapped differently is still found
    hits = [f for f in secret_forms if f in text or f in squeezed]
    if "PRIVATE KEY" in text:
        hits.append("a PEM private key marker")
    return hits


def secret_forms_of(keys_dir: Path) -> list[str]:
    pairs = keys_mod.load_or_create(keys_dir)
    return [form for pair in pairs.values() for form in forms(pair.private)]


class Capture(logging.Handler):
    """Every log record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_no_private_key_material_anywhere_in_a_full_run(archive_dir, request, capsys):
    """serve + follow + publish + deliveries + errors + CLI commands with --verbose, then a scan of everything."""
    sqlite_only(request, "a real fedi process and a scan of its SQLite file")
    port = free_port()
    write_config(archive_dir, server={"port": port, "base_url": f"http://127.0.0.1:{port}"},
                 archive={"watch_seconds": 0}, delivery={"timeout": 1})
    config = config_mod.load(archive_dir / "config.toml")
    urls = urls_for(config)
    secret_forms = secret_forms_of(config.keys_dir)
    assert len(secret_forms) > 50
    assert leaks(keys_mod.private_path(config.keys_dir, OWNER).read_text().replace("PRIVATE KEY", ""), secret_forms)
    healthy = await RemoteServer.start(name="healthy", host="127.0.0.2")
    refusing = await RemoteServer.start(name="refusing", host="127.0.0.3", style="peertube")
    failing = await RemoteServer.start(name="failing", host="127.0.0.4")
    for server in (healthy, failing):
        for role, pair in keys_mod.load_or_create(config.keys_dir).items():
            server.trust(urls.key(role), pair.public_pem)
    refusing.set_responses([Reply(403, body=b'{"error":"Invalid signature"}')] * 20)  # PeerTube's refusal
    answers: list[str] = []
    fedi = await Fedi(archive_dir, "serve").start("--verbose", "serve")
    try:
        async with aiohttp.ClientSession() as session:
            async def get(url: str, **headers: str) -> None:
                async with session.get(url, headers=headers) as resp:
                    answers.append(f"{resp.status} {dict(resp.headers)} {await resp.text(errors='replace')}")

            async def up() -> bool:
                try:
                    async with session.get(urls.actor(ARCHIVE)) as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False
            await until(up, 30, "fedi serve", fedi, every=0.05)
            for server in (healthy, refusing, failing):
                follow = {"@context": AS, "id": server.actor_id() + "#follows/1", "type": "Follow",
                          "actor": server.actor_id(), "object": urls.actor(ARCHIVE)}
                answer = await server.signed_post(urls.inbox(ARCHIVE), follow)
                answers.append(f"{answer.status} {dict(answer.headers)} {answer.body!r}")
            failing.set_responses([500] * 20)
            await until(lambda: healthy.received and len(refusing.received) >= 2 and failing.received, 20,
                        "the Accepts", fedi)
            # refused requests of every kind
            forged = {"@context": AS, "id": healthy.actor_id() + "#x", "type": "Like", "actor": healthy.actor_id(),
                      "object": urls.talk("debat")}
            for answer in (
                await healthy.signed_post(urls.shared_inbox(), forged, key=refusing.keys["alice"]),
                await healthy.signed_post(urls.shared_inbox(), forged | {"actor": refusing.actor_id()}),
                await healthy.send("POST", urls.shared_inbox(), b"[" * 50_000 + b"]" * 50_000, {"Content-Type": AS2}),
                await healthy.send("POST", urls.shared_inbox(), b"{}", {"Content-Type": "text/plain"}),
                await healthy.signed_get(urls.followers(ARCHIVE)),
            ):
                answers.append(f"{answer.status} {dict(answer.headers)} {answer.body!r}")
            for path in ("/", "/actors/archive", "/actors/assoc", "/talks/debat", "/talks/nope", "/media/../keys",
                         "/.well-known/webfinger?resource=acct:archive@" + urls.domain, "/nodeinfo/2.0",
                         "/actors/archive/outbox?page=1", "/keys/archive.private.pem"):
                await get(config.server.base_url + path)
                await get(config.server.base_url + path, Accept=AS2)
        # publishing, from another process
        (archive_dir / "outbox" / "second.toml").write_text(ENTRY.replace("Un débat", "Second"), encoding="utf-8")
        outputs = [await run_fedi(archive_dir, "sync", "--verbose", "sync")]
        await until(lambda: any((r.json or {}).get("id") == urls.create("second") for r in healthy.received), 20,
                    "the Create to arrive", fedi)
        # the other commands in this process (an interpreter start each would cost seconds), every log record
        # captured at DEBUG
        capture = Capture()
        root = logging.getLogger()
        root.addHandler(capture)
        level, root.level = root.level, logging.DEBUG
        try:
            entry = str(archive_dir / "outbox" / "debat.toml")
            for args in (("check",), ("status",), ("deliveries",), ("deliveries", "--failed"),
                         ("followers", "list"), ("replies", "list"), ("preview", entry),
                         ("keys", "generate"), ("blocks",), ("block", "blocked.example"),
                         ("followers", "remove", "nobody@nowhere.example"), ("deliver", "--once"),
                         ("publish", str(archive_dir / "outbox/missing.toml"), "--dry-run")):
                code = await asyncio.to_thread(cli.main, ["--config", str(archive_dir / "config.toml"), "--verbose",
                                                          *args])
                out, err = capsys.readouterr()
                outputs.append((code, out + err))
        finally:
            root.removeHandler(capture)
            root.level = level
        outputs.append((0, "\n".join(capture.lines)))
    finally:
        await fedi.stop()
        for server in (healthy, refusing, failing):
            await server.close()
    assert any(code == 0 for code, _ in outputs) and any(code != 0 for code, _ in outputs)
    sent = [f"{r.method} {r.path} {dict(r.headers)} {r.body!r}" for s in (healthy, refusing, failing)
            for r in s.requests]
    assert any("Signature" in line for line in sent), "fedi signed what it sent"
    store_bytes = b"".join(p.read_bytes() for p in archive_dir.glob("fedi.sqlite3*"))
    produced = {
        "serve's output": fedi.log(),
        "the commands' output": "\n".join(out for _, out in outputs),
        "HTTP answers": "\n".join(answers),
        "what fedi sent": "\n".join(sent),
        "the store": store_bytes.decode("latin-1"),
    }
    assert "DEBUG" in fedi.log() and "delivery host=" in fedi.log(), "the run was verbose and delivered"
    assert "status=500" in fedi.log() and "status=403" in fedi.log(), "the run had delivery errors"
    for where, text in produced.items():
        assert not leaks(text, secret_forms), f"private key material in {where}: {leaks(text, secret_forms)[:3]}"
    record("secrets", scanned_bytes=sum(len(t) for t in produced.values()), commands=len(outputs),
           http_answers=len(answers), requests_sent=len(sent), leaks=0)


async def test_no_private_key_in_debug_logs_and_errors_of_one_process(config, caplog):
    """In one process, every log record at DEBUG (tracebacks too) and every error while following, publishing,
    delivering to a failing server and refusing requests: no key material; reprs of the keys hide them."""
    capture = Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    remote = await RemoteServer.start(name="r", host="127.0.0.2")
    app = await FediApp.start(config)
    try:
        secret_forms = [f for pair in app.ctx.keys.values() for f in forms(pair.private)]
        for role, pair in app.ctx.keys.items():
            remote.trust(app.ctx.urls.key(role), pair.public_pem)
        follow = {"@context": AS, "id": remote.actor_id() + "#follows/1", "type": "Follow",
                  "actor": remote.actor_id(), "object": app.actor()}
        await remote.signed_post(app.inbox(), follow)
        remote.set_responses([Reply(500, body=b"oops"), Reply(401, body=b"bad signature"),
                              Reply(401, body=b"bad signature")])
        await app.drain()
        await remote.signed_post(app.inbox(), follow)  # a replay: logged at DEBUG
        await remote.signed_post(app.inbox(), follow | {"id": follow["id"] + "/flag", "type": "Flag"})
        bad = await remote.signed_post(app.shared_inbox, follow | {"id": follow["id"] + "2"},
                                       key=remote.keys["alice"], key_id=remote.base + "/no/such/key")
        texts = [repr(app.ctx), repr(app.ctx.keys), str(app.ctx.client.__dict__), bad.body.decode()]
        for line in (*capture.lines, *texts):
            assert not leaks(line, secret_forms), line[:300]
        assert any("DEBUG" in line for line in capture.lines) and len(capture.lines) > 5
        assert all("KeyPair(<private>)" in repr(pair) for pair in app.ctx.keys.values())
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)
        await app.stop()
        await remote.close()


# key files ---------------------------------------------------------------------------------------------------------

def private_modes(keys_dir: Path) -> dict[str, int]:
    return {role: stat.S_IMODE(keys_mod.private_path(keys_dir, role).stat().st_mode) for role in ROLES}


def run_with_umask(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fedi command under umask 000, the most permissive a user could have."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", "import os, sys; os.umask(0); from fedi.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)


def test_key_files_are_0600_even_under_a_permissive_umask(tmp_path):
    """`fedi init` and `fedi keys generate --force` write private keys 0600 whatever the umask."""
    done = run_with_umask(["init", str(tmp_path / "site")], tmp_path)
    assert done.returncode == 0, done.stderr
    keys_dir = tmp_path / "site" / "keys"
    assert set(private_modes(keys_dir).values()) == {0o600}
    done = run_with_umask(["--config", str(tmp_path / "site" / "config.toml"), "keys", "generate", "--force"],
                          tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(private_modes(keys_dir).values()) == {0o600}
    assert "PRIVATE" not in done.stdout + done.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640], ids=["0644", "0640"])
async def test_fedi_refuses_to_start_with_a_private_key_others_can_read(archive_dir, mode):
    """A private key readable (or writable) by the group or others: `fedi serve` and `fedi check` stop with one
    line saying how to fix it, and nothing is served."""
    path = keys_mod.private_path(archive_dir / "keys", OWNER if mode & 0o060 else ARCHIVE)
    path.chmod(mode)
    port = free_port()
    write_config(archive_dir, server={"port": port, "base_url": f"http://127.0.0.1:{port}"})
    code, out = await run_fedi(archive_dir, "serve", "serve", timeout=30)
    assert code == 1, out
    assert f"chmod 600 {path}" in out and "readable by other users" in out and "Traceback" not in out, out
    assert out.strip().count("\n") == 1, "one line of output after the banner"
    code, out = await run_fedi(archive_dir, "check", "check")
    assert code == 1 and f"chmod 600 {path}" in out, out
    with pytest.raises(OSError):  # nothing listens: fedi stopped before serving anything
        await asyncio.open_connection("127.0.0.1", port)
    path.chmod(0o600)
    code, out = await run_fedi(archive_dir, "check-fixed", "check")
    assert code == 0, out
    record("secrets_key_files", **{f"refused_{mode:04o}": True})
