"""Tests on a local cluster: 3 Kafka brokers and 3 Elasticsearch nodes."""
