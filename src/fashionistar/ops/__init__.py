"""Operations you can rehearse: backups and restore, migration checks, smoke tests, alert rules.

``manage.py db_backup`` / ``db_restore`` (:mod:`fashionistar.ops.backup`), ``manage.py
migrate_roundtrip`` (:mod:`fashionistar.ops.migrations`), ``python -m fashionistar.ops.smoke
--base-url URL`` (:mod:`fashionistar.ops.smoke`, which needs no settings), the staff-only
task round trip it calls (:mod:`fashionistar.ops.apis`), and the metrics the alert rules use
(:mod:`fashionistar.ops.alerting`).
"""
