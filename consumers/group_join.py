"""Keep kafka-python from abandoning a group join that a short ``poll`` interrupted.

kafka-python 3.0 (checked on 3.0.12) runs a group join (JoinGroup, then SyncGroup) as a
task that outlives the ``poll`` whose timeout expired during it; the next ``poll`` takes
the result, but only if the coordinator still answers ``need_rejoin()`` with True. A
rejoin caused by a change of topic metadata is a case where it does not: the leader's
assignment, made while the task is in flight, records the metadata it used, after which
``need_rejoin()`` is False. The finished join is then never applied and the member holds
no partitions, for good: nothing is indexed, nothing rebalances.

That rejoin happens at nearly every start, because a fresh consumer joins before it has
its topic's metadata (the first assignment is empty; the metadata that arrives ~100 ms
later asks for a second join). A ``poll`` that returns while that second join is in
flight (the indexer polls in short slices while a bulk request is in flight) leaves the
indexer without partitions: seen at startup on one broker and on a 3-broker cluster, and
reproduced every time with 5 ms polls (tests/consumers/test_group_join.py). The same
holds later, when partitions are added to the topic.

``finish_interrupted_joins`` makes ``need_rejoin()`` also True while a join attempt is
under way (``rejoining``, which kafka-python clears once a join is applied), so the
next ``poll`` goes on with the join instead of forgetting it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("reqtrail.consumer")


def finish_interrupted_joins(consumer: Any) -> Any:
    """Patch ``consumer``'s group coordinator (see the module doc); returns ``consumer``.

    Without kafka-python's internals where they are expected, the consumer is returned
    as it is, with a warning: it still works, with the race this works around."""
    coordinator = getattr(consumer, "_coordinator", None)
    need_rejoin = getattr(coordinator, "need_rejoin", None)
    if coordinator is None or need_rejoin is None or not hasattr(coordinator, "rejoining"):
        log.warning(
            "kafka-python's group coordinator has no need_rejoin/rejoining: an interrupted"
            " group join may leave this consumer without partitions"
        )
        return consumer

    def need_rejoin_or_joining() -> bool:
        return bool(need_rejoin()) or bool(coordinator.rejoining)

    coordinator.need_rejoin = need_rejoin_or_joining
    return consumer
