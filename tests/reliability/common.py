"""What the reliability tests share: their size (CI or soak), the figures they report, fedi as a real process.

``FEDI_SOAK=1`` (``make soak``) switches every test to its full size: the 5,000-activity flood, 5 crash rounds…
The CI size tests every category with smaller numbers. Figures go to the JSON file named by
``FEDI_RELIABILITY_OUT`` (``make soak`` sets it), from which ``python -m tests.reliability.report`` prints the
table of docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from fedi.netguard import Policy
from tests.conftest import ROOT, store_mode, until  # noqa: F401 (the reliability tests import it from here)
from tests.conftest import ManualClock as Clock  # noqa: F401 (the reliability tests import it from here)

LOOPBACK_ONLY = Policy(allow_http=True, allow_private=False, exempt=(ipaddress.ip_network("127.0.0.0/8"),))
"""The production rule (public addresses only), with 127.0.0.0/8 let through for the test servers."""
SOAK = os.environ.get("FEDI_SOAK", "") not in ("", "0")
OUT = os.environ.get("FEDI_RELIABILITY_OUT")


def size(ci: int, soak: int) -> int:
    return soak if SOAK else ci


def record(section: str, **figures: Any) -> None:
    """Add figures to the report file (when ``FEDI_RELIABILITY_OUT`` names one); also printed with ``-s``."""
    print(f"[reliability] {section}: {json.dumps(figures, default=str)}")
    if not OUT:
        return
    path = Path(OUT)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {}).update(figures)
    data["_size"] = "soak" if SOAK else "ci"
    path.write_text(json.dumps(data, indent=2, default=str))


def sqlite_only(request: pytest.FixtureRequest, why: str) -> None:
    """Skip in a ``--store=postgres`` run: the test drives real processes on one SQLite file (kill -9 of the
    file's writer, its ``integrity_check``, a full disk), and the same code paths already ran on SQLite."""
    if store_mode(request.config) == "postgres":
        pytest.skip(f"SQLite only: {why}")


class Fedi:
    """One ``fedi`` command as a real process (``python -m fedi.cli``), its output kept in a file."""

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def out_path(self) -> Path:
        return self.root / f"{self.name}.out"

    async def start(self, *args: str, config: Path | None = None) -> Fedi:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.out_path, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "fedi.cli", "--config", str(config or self.root / "config.toml"), *args,
                stdout=out, stderr=out, env=env, cwd=str(self.root))
        return self

    def log(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    async def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def kill(self) -> None:
        """``kill -9``."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop within 10 s."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await self.wait(10)
            except TimeoutError:
                await self.kill()


async def run_fedi(root: Path, name: str, *args: str, timeout: float = 60, config: Path | None = None
                   ) -> tuple[int, str]:
    """Run one ``fedi`` command to its end: (exit status, output)."""
    fedi = await Fedi(root, name).start(*args, config=config)
    try:
        code = await fedi.wait(timeout)
    finally:
        await fedi.kill()
    return code, fedi.log()
