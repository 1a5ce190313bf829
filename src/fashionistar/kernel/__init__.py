"""The shared kernel every app may import: errors, idempotency, configuration, Redis, API parts."""
