"""The delivery worker writes a host's recovery only when the host was failing (one store write saved per host)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_delivery import ENTRY, T0, make_world

pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
async def world(config):  # type: ignore[no-untyped-def]
    w, closers = await make_world(config)
    yield w
    for close in closers:
        await close()


def count_host_ok(store) -> list[str]:  # type: ignore[no-untyped-def]
    """Record the hosts passed to the real store's host_ok (the call still goes through)."""
    calls: list[str] = []
    real = store.host_ok

    async def host_ok(host: str) -> bool:
        calls.append(host)
        return await real(host)
    store.host_ok = host_ok
    return calls


async def test_healthy_hosts_cost_no_health_write(world):
    """Answers from hosts the store does not record as failing make no host_ok call."""
    calls = count_host_ok(world.store)
    await world.sync()
    assert await world.worker().run_once() == 5
    assert calls == []


async def test_failing_host_is_cleared_when_it_answers(world):
    """A host recorded as failing (by another process, before this worker started) is cleared by its first answer,
    and only that host costs a write."""
    host = world.c.domain
    await world.store.host_failed(host, T0 - dt.timedelta(hours=1))
    calls = count_host_ok(world.store)
    await world.sync()
    await world.worker().run_once()
    assert calls == [host]
    assert await world.store.host_state(host) is None


async def test_host_failing_then_answering_in_one_worker(world):
    """A host that fails then answers within one worker's life is recorded failing, then cleared."""
    calls = count_host_ok(world.store)
    worker = world.worker()
    world.c.set_responses([500])
    await world.sync()
    await worker.run_once()
    assert (await world.store.host_state(world.c.domain)).failures == 1
    (world.config.archive.dir / "autre.toml").write_text(ENTRY.replace("Un débat", "Autre débat"), encoding="utf-8")
    await world.sync()
    world.clock.advance(3600)
    await worker.run_once()
    assert calls == [world.c.domain]
    assert await world.store.host_state(world.c.domain) is None
