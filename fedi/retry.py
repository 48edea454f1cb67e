"""The one retry policy: how long to wait after a failed attempt, for deliveries and for jobs alike.

A wait grows along fixed ``steps``, then ``growth`` times the one before, up to ``cap``; every wait is spread by
±``jitter`` (20 %), so that the thousand rows or jobs that failed together (a server down for an hour) do not all
come back in the same second. A server's ``Retry-After`` wins when it asks for longer (capped too, so that a bad
header cannot park anything for ever). Pure: the randomness is passed in (a seeded ``random.Random`` in tests).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

JITTER = 0.2
"""Each wait is its schedule's value times a random factor in [1 - JITTER, 1 + JITTER]."""


@dataclass(frozen=True)
class Backoff:
    steps: tuple[float, ...]
    """Seconds before the 2nd, 3rd… attempt; after the last step, each wait is ``growth`` times the one before."""
    growth: float
    cap: float
    """The longest wait before jitter."""
    jitter: float = JITTER

    def base(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1-based), before jitter."""
        index = max(attempts, 1) - 1
        if index < len(self.steps):
            return min(self.steps[index], self.cap)
        beyond = min(index - len(self.steps) + 1, 64)  # bounded: the power must not overflow a float
        return min(self.steps[-1] * self.growth ** beyond, self.cap)

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: the schedule with jitter, or the server's
        ``Retry-After`` when that is longer (at most ``cap``)."""
        wait = self.base(attempts) * rng.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait


DELIVERY = Backoff(steps=(60.0, 300.0, 1800.0, 7200.0, 28800.0), growth=4.0, cap=30 * 86400.0)
"""About 1 min, 5 min, 30 min, 2 h, 8 h, then 4× longer each time (``delivery.max_age`` usually ends a row long
before the 30-day cap)."""
JOBS = Backoff(steps=(30.0,), growth=2.0, cap=6 * 3600.0)
"""30 s, 1 min, 2 min … 6 h: a job waits on one remote fetch, which recovers sooner than a whole inbox."""
