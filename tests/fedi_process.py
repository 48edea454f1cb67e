"""A real ``fedi`` subprocess (serve, deliver, publish…) with its output in a file, for crash and scale tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import ROOT


class FediProcess:
    """``python -m fedi.cli --config ROOT/config.toml ARGS`` run in ``root``, its output in ``root/NAME.out``."""

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> FediProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = open(self.root / f"{self.name}.out", "ab")  # noqa: SIM115 (kept open for the child)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fedi.cli", "--config", str(self.root / "config.toml"), *args,
            stdout=out, stderr=out, env=env, cwd=str(self.root))
        out.close()
        return self

    def log(self) -> str:
        path = self.root / f"{self.name}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def sent(self) -> int:
        """Deliveries this process logged (one info line per outcome)."""
        return self.log().count("delivery host=")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self, timeout: float = 15) -> None:
        """SIGTERM (the workers finish what they hold), then SIGKILL if it does not exit in time."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                await self.wait(timeout)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def children(pid: int) -> list[int]:
    """The pids of a process's children (``fedi serve --workers N``: its workers)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def gone(pid: int) -> bool:
    """Exited (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
