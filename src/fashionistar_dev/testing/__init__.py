"""Test support: the pytest plugin and the docs runner."""
