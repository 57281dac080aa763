"""The worker's Kafka consumer: faust's aiokafka consumer with its offset bookkeeping made safe.

faust (0.15) can skip records around a rebalance and then commit past them. Seen with a worker
killed and restarted while rule state was being recovered from its changelog:

* faust lets the fetcher run during table recovery and resumes the stream partitions before it
  seeks them to their committed offsets, so a batch fetched before the seek is still being handed
  out after it. Those records set the partition's read offset past the seek; the same records,
  fetched again from the committed offset, are then dropped as already read, and records that
  were in flight when the flow stopped are dropped without an ack.
* aiokafka only seeks to a committed offset above 0, so a partition nobody had committed for yet
  stayed wherever the fetcher had got to.
* faust treats a jump in offsets as a gap (meant for compacted or transactional topics) and counts
  the missing offsets as acknowledged; with no committed offset it also commits past any records
  not yet acknowledged. Either way the commit passed records no batch had stored, and the next
  restart did not read them again.

So, for the topics our agents consume and acknowledge (ours are neither compacted nor
transactional):
* the commit only moves over a contiguous run of acknowledged offsets that starts exactly at the
  committed offset (or at the start of the log when nothing is committed yet), and offset jumps
  are not treated as acknowledged;
* a partition with no committed offset is sought to the start of its log, explicitly;
* a partition whose next record to acknowledge has not come for `REREAD_AFTER_SECONDS` while later
  records have been acknowledged (checked every 2 s) lost that record in flight: it is sought back
  to its committed offset and read again. Records read twice are harmless: the sink dedupes by event id and the
  rules by position. The rules also leave alone the records handed out past the lost one until
  this read brings them again in order (`PartitionedRules.in_order`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, cast

import faust
import structlog
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.utils.functional import consecutive_numbers
from mode import Service

from streams.checkpoint import Gate
from streams.settings import Settings

log = structlog.get_logger("tongfang.consumer")

REREAD_AFTER_SECONDS = 10.0
FETCH_WAIT_MS: int = Settings.model_fields["worker_fetch_wait_ms"].default  # one default, the setting's


class ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        """faust's consumer with the broker's longest wait for a fetch set by the app.

        faust fixes it at 1.5 s. aiokafka leaves out of the next fetch the partitions whose
        records are still being handed out, so when those were the busy ones, the fetch in
        flight waits for quiet partitions; records that reach the busy ones meanwhile wait for it.
        It is `Settings.worker_fetch_wait_ms`, 500 ms by default: p99 1.5 s where 1.5 s gave 2.3 to
        2.8 at 400 events/s. A worker hung in 3 of 87 short probe runs with 100 ms, in its producer's
        metadata refresh, and in none of 40 with 500 ms (bench/HISTORY.md).
        """
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast("App", self.app).fetch_wait_ms  # read when the consumer starts
        return consumer


class Consumer(aiokafka_driver.Consumer):
    _thread: ConsumerThread

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stalled_since: dict[TP, tuple[int, float]] = {}

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _ours(self, tp: TP) -> bool:
        return bool(self.app.topics.acks_enabled_for(tp.topic))

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = dict(await super().seek_to_committed())
        uncommitted = [tp for tp, offset in committed.items() if not offset and self._ours(tp)]
        if uncommitted:
            earliest = await self.earliest_offsets(*uncommitted)
            for tp in uncommitted:
                start = earliest.get(tp) or 0
                await self.seek(tp, start)
                committed[tp] = start
                log.info("partition_starts_at_log_start", topic=tp.topic, partition=tp.partition, offset=start)
        self._stalled_since.clear()
        return committed

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if not self._ours(tp):
            await super()._add_gap(tp, offset_from, offset_to)

    def _done_through(self, tp: TP) -> int | None:
        """The first offset not yet done by every gate on its topic (`App.gates`); None for an ungated topic."""
        throughs = [gate.through.get(tp, 0) for gate in cast("App", self.app).gates() if tp.topic in gate.topics]
        return min(throughs) if throughs else None

    def _new_offset(self, tp: TP) -> int | None:
        if not self._ours(tp):
            return super()._new_offset(tp)
        acked = self._acked[tp]
        if not acked:
            return None
        acked.sort()
        start = self._committed_offset[tp] or 0
        if acked[0] > start:  # the record at `start` is not acknowledged yet
            return None
        batch = list(next(consecutive_numbers(acked)))
        done = self._done_through(tp)
        if done is not None:
            batch = [offset for offset in batch if offset < done]
            if not batch:
                return None
        del acked[: len(batch)]
        self._acked_index[tp].difference_update(batch)
        return int(batch[-1]) + 1

    @Service.timer(2.0)
    async def _reread_stalled(self) -> None:
        """Seek back the partitions whose next record was lost in flight."""
        now = time.monotonic()
        for tp in list(self.assignment()):
            acked = self._acked.get(tp)
            committed = self._committed_offset.get(tp) or 0
            since = self._stalled_since.get(tp)
            if not self._ours(tp) or not acked or min(acked) <= committed:
                self._stalled_since.pop(tp, None)
            elif since is None or since[0] != committed:
                self._stalled_since[tp] = (committed, now)
            elif now - since[1] >= REREAD_AFTER_SECONDS:
                log.warning(
                    "partition_reread", topic=tp.topic, partition=tp.partition, offset=committed, next_acked=min(acked)
                )
                await self.seek(tp, committed)
                del self._stalled_since[tp]


class Transport(aiokafka_driver.Transport):
    Consumer = Consumer


class App(faust.App):
    """faust's app with our consumer, and the commit held back to the work done after the acks.

    The agents that fold records into rule state acknowledge each batch once it is folded and its
    alerts are published, and save the state now and then rather than after every batch
    (`Settings.rule_save_seconds`): for their topics the commit stops where the state saved stops
    (`saved`). The events agent also holds small batches back from their insert for a while
    (`Settings.sink_insert_min_events`): for the events topic the commit stops where the records
    stored stop (`stored`). A crash reads again what was not saved or stored.
    """

    def __init__(self, *args: Any, fetch_wait_ms: int = FETCH_WAIT_MS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fetch_wait_ms = fetch_wait_ms
        self.saved = Gate()
        self.stored = Gate()
        self.retrying: Counter[str] = (
            Counter()
        )  # actions being retried after a failure (`streams.checkpoint.until_done`)

    def gates(self) -> tuple[Gate, ...]:
        return self.saved, self.stored

    def waiting_for(self) -> str | None:
        """Why the worker may rightly make no progress now, or None (for `streams.watchdog`)."""
        if self.should_stop:
            return "stopping"
        if self.in_recovery:  # set by faust's table recovery
            return "recovery"
        if self.rebalancing:
            return "rebalance"
        if self.retrying:
            return "retrying " + ", ".join(sorted(self.retrying))
        return None

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)
