"""``db_backup``, ``db_restore``, ``migrate_roundtrip``."""
