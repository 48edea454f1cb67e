"""``Board``: the inbox's backlog marks shared by the processes of one server (``fedi serve --workers N``).

A module of its own, with nothing heavy imported, so that the supervisor of the worker processes can clear a dead
worker's slot without loading the server (its memory stays small: ``workers``).
"""

from __future__ import annotations

import array
from typing import Any


class Board:
    """The backlog marks of the processes sharing one job queue (``fedi serve --workers N``), so that no
    process handles an activity at once while an earlier one waits deferred in the queue: per process, since
    when it has deferred POSTs and how many it is storing now; and when the job worker last found the queue
    empty. Each process writes only its own slot (the job worker: also ``settled_at``), so no lock is needed.

    ``cells``: doubles, ``1 + 2 × processes`` of them: a plain array for one process, or shared memory made before
    the worker processes are forked (``workers``).
    """

    def __init__(self, cells: Any = None, slot: int = 0) -> None:
        self.cells = cells if cells is not None else array.array("d", [0.0] * 3)
        self.slot = slot
        self.slots = (len(self.cells) - 1) // 2

    def mark(self, now: float) -> None:
        """This process defers from ``now`` on, unless it already does."""
        cells, i = self.cells, 1 + 2 * self.slot
        if cells[i] <= cells[0]:
            cells[i] = max(now, cells[0] + 1e-6)

    def storing(self, delta: int) -> None:
        self.cells[2 + 2 * self.slot] += delta

    def since(self) -> float | None:
        """Since when some process has deferred POSTs that the worker has not found handled yet."""
        cells = self.cells
        marks = [cells[1 + 2 * i] for i in range(self.slots) if cells[1 + 2 * i] > cells[0]]
        return min(marks) if marks else None

    def settle(self, now: float) -> None:
        """The job worker found the queue empty: the marks end, unless a deferred POST is being stored."""
        cells = self.cells
        if not any(cells[2 + 2 * i] for i in range(self.slots)):
            cells[0] = max(now, *(cells[1 + 2 * i] for i in range(self.slots)))

    def reset(self, slot: int) -> None:
        """A process that died (kill -9) stores nothing any more."""
        self.cells[2 + 2 * slot] = 0.0
