"""Background tasks: Django's own task API on RQ and Redis, with retries and a Postgres outbox.

Application code declares tasks with ``from django.tasks import task`` and enqueues them with
``.enqueue()``; the backend (:mod:`fashionistar.tasks.backend`) writes each one to an outbox
table in the caller's transaction and hands it to RQ after commit. Workers
(``manage.py run_worker``) run them with RQ's retries; a sweep in every worker re-sends what
Redis lost.
"""
