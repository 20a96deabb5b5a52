"""Local Kafka + Elasticsearch for development, tests and the demo (no Docker needed).

Command line (``reqtrail/services/cli.py``)::

    reqtrail services up [--docker]       download once (mvn), start, wait until healthy
    reqtrail services status              service, address, pid, health, version
    reqtrail services logs [NAME] [-n N] [-f]
    reqtrail services down [--docker]     stop what `up` started (pid files), nothing else

Python API::

    from reqtrail.services import ElasticsearchService, KafkaService, LocalStack
    from reqtrail.settings import LocalStackSettings, load_settings

    settings = load_settings(role=LocalStackSettings)
    stack = LocalStack(settings)         # `elasticsearch` + `kafka` under settings.state_dir
    stack.up()                           # no-op for what already runs; raises ServiceError
    stack.status()                       # [ServiceStatus(name, address, pid, healthy, ...)]
    stack.down()

    # A dedicated instance (fault tests): own name, own ports, same download cache.
    es = ElasticsearchService(settings.replace(state_dir="/var/lib/reqtrail/dedicated/x"),
                              name="es-x", download_dir=stack.elasticsearch.download_dir,
                              http_port=29200, heap="512m",
                              extra_config={"thread_pool.write.queue_size": 1})
    es.start()                 # wait=True: returns once /_cluster/health is green/yellow
    es.url                     # "http://127.0.0.1:29200"
    es.kill()                  # SIGKILL launcher + server JVM at once
    es.start()                 # same data directory: documents survive
    es.stop()                  # graceful (SIGTERM, SIGKILL after a timeout)
    es.is_running(), es.is_healthy()

    kafka = KafkaService(settings, name="kafka-x", port=29092)   # .bootstrap "127.0.0.1:29092"

Where things are: ``<state_dir>/<name>/`` holds each instance's config, data and logs,
``<state_dir>/run/<name>.pid`` its pid file, ``<download_dir>`` the cached downloads
(default ``<state_dir>/downloads``).  As root, both services run as the unprivileged
``REQTRAIL_SERVICE_USER`` (created when missing).  Java: a JDK >= 21 from ES_JAVA_HOME,
JAVA_HOME or /usr/lib/jvm.  Every failure is a ``ServiceError`` with a one-line message.
"""

from reqtrail.services.base import LocalService, ServiceStatus
from reqtrail.services.elasticsearch import ElasticsearchService
from reqtrail.services.errors import ServiceError
from reqtrail.services.kafka import KafkaService
from reqtrail.services.stack import LocalStack, UpResult

__all__ = [
    "ElasticsearchService",
    "KafkaService",
    "LocalService",
    "LocalStack",
    "ServiceError",
    "ServiceStatus",
    "UpResult",
]
