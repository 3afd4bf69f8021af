"""``make bench``'s baseline: the least a Temporal workflow with one timer and one Update costs on this machine.

Not part of the product. :class:`RawWorkflow` arms one durable timer for an absolute instant and answers an
Update that does nothing; ``python -m workers.bench_raw ADDRESS TASK_QUEUE`` runs its worker, in a process
of its own as the project's worker is, with the SDK's defaults and the default data converter (no codec).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.worker import Worker

from workers.bench_figures import measure
from workers.bench_history import histories, lateness, task_after_timer, task_phases, timeouts, timer_fired


@workflow.defn(sandboxed=False)
class RawWorkflow:
    """Waits for one timer due at ``due_at`` (epoch seconds), then until told to finish."""

    def __init__(self) -> None:
        self._updates = 0
        self._finish = False

    @workflow.run
    async def run(self, due_at: float) -> int:
        delay = datetime.fromtimestamp(due_at, UTC) - workflow.now()
        if delay.total_seconds() > 0:
            await asyncio.sleep(delay.total_seconds())  # one durable timer
        await workflow.wait_condition(lambda: self._finish)
        return self._updates

    @workflow.update
    def ping(self, value: int) -> int:
        """The Update round trip: answers at once with a counter."""
        self._updates += 1
        return value

    @workflow.signal
    def finish(self) -> None:
        self._finish = True


async def raw_timers(
    client: Client, task_queue: str, run: str, lead: float, offsets: list[timedelta], concurrency: int
) -> None:
    """The raw baseline of the bench's deadlines: as many timers, due ``lead`` s from now plus each offset,
    started ``concurrency`` at a time as the orders were; prints when they fired."""
    raws = [f"raw-{run}-{i}" for i in range(len(offsets))]
    started = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    dues = [started + timedelta(seconds=lead) + offset for offset in offsets]

    async def start(i: int) -> bool:
        await client.start_workflow(RawWorkflow.run, dues[i].timestamp(), id=raws[i], task_queue=task_queue)
        return True

    await measure(len(raws), concurrency, start)
    await asyncio.sleep(max(0.0, (dues[-1] - datetime.now(UTC)).total_seconds()))
    fired: list[list[HistoryEvent]] = []
    for _ in range(240):  # until every timer fired and its workflow task completed (or two minutes have passed)
        fired = await histories(client, raws)
        if all(task_after_timer(events) for events in fired):
            break
        await asyncio.sleep(0.5)
    lateness(f"raw: timer fired (TimerFired), due from {dues[0]:%H:%M:%S}", dues, [timer_fired(e) for e in fired])
    # What the project's "marked overdue" is to its deadline: the workflow task after the timer, completed.
    tasks = [task_after_timer(events) for events in fired]
    lateness("raw: its workflow task completed", dues, [t[0] if t else None for t in tasks])
    print(f"  {task_phases([(t[1], t[2]) for t in tasks if t], 'the task after the timer')}", flush=True)
    print(f"  workflow-task timeouts: raw {timeouts(fired)} in {len(raws)} histories", flush=True)
    await asyncio.gather(*(client.get_workflow_handle(i).signal(RawWorkflow.finish) for i in raws))


async def serve(address: str, task_queue: str) -> None:
    """Runs the raw worker until SIGTERM."""
    client = await Client.connect(address)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    async with Worker(client, task_queue=task_queue, workflows=[RawWorkflow]):
        await stopping.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
