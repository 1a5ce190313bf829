"""Payments: idempotent charges through a card gateway over HTTP."""
