"""Observability: JSON logs, request ids, traces, metrics, and their way into tasks.

- :mod:`.context`: what a log line knows about the request or task it belongs to.
- :mod:`.logging`: JSON lines with ECS field names, written off the event loop.
- :mod:`.middleware`: the request id, the access log line, the request metrics.
- :mod:`.propagation`: request id, user and trace context from a request into its tasks.
- :mod:`.tracing`: OpenTelemetry from the environment (OTLP), an in-memory exporter for tests.
- :mod:`.metrics`: Prometheus metrics, correct with several server processes.
- :mod:`.shutdown`: write buffered lines and spans before a forked task child exits.
"""
