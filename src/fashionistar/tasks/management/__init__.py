"""Management commands of the task queues."""
