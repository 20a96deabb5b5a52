"""The release gate: ``reqtrail compare`` and ``reqtrail loadtest``.

Kept import-free: ``reqtrail.gate.locust_runner`` runs in a process of its own where locust
must be imported (and gevent patch the process) before anything else.
"""
