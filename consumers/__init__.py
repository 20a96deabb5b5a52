"""The indexer: Kafka consumer group -> Elasticsearch daily indices, nothing lost or doubled.

Stages, top to bottom: ``polling`` (batches from Kafka, offsets tracked) -> ``decode``
(bytes -> validated record or poison) -> ``documents`` (record -> bulk action, dates
outside ``timestamps``' window dead-lettered) -> ``indexer`` (chunk, send, sort results,
retry; ``isolate`` splits a bulk rejected as a whole) -> ``offsets`` (what may be
committed); ``dlq`` writes dead letters, ``consumer`` runs the loop (``membership``:
commits and rebalances, ``preflight``: what must exist first, ``stats`` and ``lag``: the
stats line). ``setup`` creates topics and the index template, ``retention`` deletes old
daily indices, ``dlq_admin`` and ``redrive`` look into and re-drive the dead letters,
``cli`` adds the commands.
"""
