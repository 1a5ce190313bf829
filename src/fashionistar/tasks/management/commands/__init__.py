"""``run_worker``."""
