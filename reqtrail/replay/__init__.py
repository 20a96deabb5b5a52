"""``reqtrail replay``: re-issue a player's recorded requests against a dev server.

Records come from an export file or straight from Elasticsearch (``source``); each is
rebuilt into a request (``reqtrail.dashboards.queries.reproduce``), sent in recorded order
(``runner``), compared with the recorded response (``jsondiff``) and reported line by
line, as a summary table, as JSON and as JUnit XML (``report``). See docs/replay.md.
"""
