"""The indexer: Kafka consumer group -> Elasticsearch daily indices, nothing lost or doubled.

Stages, top to bottom: ``polling`` (batches from Kafka, offsets tracked) -> ``decode``
(bytes -> validated record or poison) -> ``documents`` (record -> bulk action) ->
``indexer`` (chunk, send, sort results, retry) -> ``offsets`` (what may be committed);
``dlq`` writes dead letters, ``consumer`` runs the loop. ``setup`` creates topics and the
index template, ``retention`` deletes old daily indices, ``cli`` adds the commands.
"""
