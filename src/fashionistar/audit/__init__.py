"""Audit: who changed what, from where."""
