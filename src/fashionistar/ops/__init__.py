"""Operations you can rehearse: backups and restore, migration round trips, smoke tests.

``manage.py db_backup`` / ``db_restore`` (:mod:`fashionistar.ops.backup`), ``manage.py
migrate_roundtrip`` (:mod:`fashionistar.ops.roundtrip`), ``python -m fashionistar.ops.smoke
--base-url URL`` (:mod:`fashionistar.ops.smoke`, which needs no settings), and the staff-only
task round trip it calls (:mod:`fashionistar.ops.apis`).
"""
