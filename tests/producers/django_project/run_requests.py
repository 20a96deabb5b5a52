"""Serve requests through the project's middleware in this process, then flush the pipeline.

``python run_requests.py N``: N requests to /hello/<i> with Django's test client (the whole
middleware chain from ``settings.MIDDLEWARE``), then flush; exits 1 if the flush fails.
"""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project_settings")
django.setup()

from django.test import Client  # noqa: E402

from reqtrail.producers.pipeline import get_pipeline  # noqa: E402

client = Client()
for i in range(int(sys.argv[1])):
    answer = client.get(f"/hello/p{i}", headers={"x-user-id": f"player-{i}"})
    assert answer.status_code == 200, answer.status_code
sys.exit(0 if get_pipeline().flush(timeout=30) else 1)
