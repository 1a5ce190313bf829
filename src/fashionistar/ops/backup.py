"""Logical backups with ``pg_dump`` and restores into a fresh database, straight to PostgreSQL.

A backup is one ``pg_dump --format=custom`` file: compressed, restorable table by table and in
parallel (``pg_restore --jobs``). Both ends talk to PostgreSQL directly (``DATABASE_DIRECT_URL``),
never through PgBouncer: in transaction pooling each transaction may land on another server
connection, and ``pg_dump`` sets session parameters before it opens its snapshot.

A restore goes into a *fresh* database: one that does not exist yet (it is created) or holds no
table. It refuses a database with tables, so that a restore cannot be run over live data by
mistake. Owners and grants are not restored (``--no-owner --no-privileges``): the restored
objects belong to the user who restores, as on a new instance they must.

The password of a URL never appears on a command line (where ``ps`` shows it): it goes to the
client programs in ``PGPASSWORD``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

MAINTENANCE_DATABASE = "postgres"
"""The database a restore connects to when it creates its target (every cluster has it)."""
DEBIAN_POSTGRES_BIN = Path("/usr/lib/postgresql")
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database, from a ``postgres://`` URL, split for the client programs.

    Attributes:
        conninfo: Connection parameters without the password (safe to show and to pass on a
            command line).
        password: The password, if the URL has one.
        dbname: The database's name.
    """

    conninfo: str
    password: str | None
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> PostgresTarget:
        """Parse a ``postgres://user:password@host:port/dbname`` URL.

        Args:
            url: The URL.

        Returns:
            The target.

        Raises:
            BackupError: It is not a PostgreSQL URL with a database name.
        """
        wanted = "give a postgres://user@host:port/dbname URL"
        if not url.startswith(("postgres://", "postgresql://")):
            raise BackupError(wanted)
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise BackupError(f"{wanted}: {error}") from error
        dbname = params.get("dbname")
        if not dbname:
            raise BackupError(wanted)
        password = params.pop("password", None)
        return cls(
            conninfo=make_conninfo("", **params),
            password=str(password) if password is not None else None,
            dbname=str(dbname),
        )

    def with_database(self, dbname: str) -> PostgresTarget:
        """Return the same server and user, another database.

        Args:
            dbname: The other database.

        Returns:
            The target.
        """
        return PostgresTarget(
            conninfo=make_conninfo(self.conninfo, dbname=dbname),
            password=self.password,
            dbname=dbname,
        )

    def connect(self) -> psycopg.Connection[TupleRow]:
        """Open an autocommit connection.

        Returns:
            The connection (use it in a ``with`` block).
        """
        return psycopg.connect(self.conninfo, password=self.password, autocommit=True)

    def client_env(self) -> dict[str, str]:
        """Return the environment for ``pg_dump`` and ``pg_restore``.

        Returns:
            This process's environment, with ``PGPASSWORD`` when the URL has a password.
        """
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def client_program(name: str) -> str:
    """Find a PostgreSQL client program: on ``PATH``, else in Debian's versioned folders.

    Args:
        name: ``pg_dump`` or ``pg_restore``.

    Returns:
        Its path.

    Raises:
        BackupError: It is not installed.
    """
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        DEBIAN_POSTGRES_BIN.glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if versions:
        return str(versions[-1])
    raise BackupError(f"{name} is not installed: install PostgreSQL's client programs")


def _run(args: list[str], target: PostgresTarget) -> None:
    result = subprocess.run(
        args, env=target.client_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed:\n{result.stderr.strip()}")


@dataclass(frozen=True)
class BackupResult:
    """A backup that was written.

    Attributes:
        path: The dump file.
        size_bytes: Its size.
        seconds: How long ``pg_dump`` took.
    """

    path: Path
    size_bytes: int
    seconds: float


# --8<-- [start:db_backup]
def db_backup(*, database_url: str, output: Path) -> BackupResult:
    """Dump a database to one file with ``pg_dump --format=custom``.

    The dump is a consistent snapshot (one transaction) taken while the shop keeps running.
    It is written next to ``output`` first and renamed when complete, so a file under the
    final name is never a partial dump.

    Args:
        database_url: The database, straight to PostgreSQL (not PgBouncer).
        output: The file to write.

    Returns:
        The file, its size and the time taken.

    Raises:
        BackupError: ``pg_dump`` failed (its message is included).
    """
    target = PostgresTarget.from_url(database_url)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    started = time.perf_counter()
    try:
        _run(
            [
                client_program("pg_dump"),
                "--format=custom",
                f"--file={partial}",
                f"--dbname={target.conninfo}",
            ],
            target,
        )
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    partial.replace(output)
    return BackupResult(path=output, size_bytes=output.stat().st_size, seconds=seconds)


# --8<-- [end:db_backup]


@dataclass(frozen=True)
class RestoreResult:
    """A restore that completed.

    Attributes:
        database: The database restored into.
        created: Whether the restore created it.
        tables: Tables it holds now.
        seconds: How long ``pg_restore`` took.
        analyze_seconds: How long the ``ANALYZE`` after it took (the planner's statistics are
            not in a dump).
    """

    database: str
    created: bool
    tables: int
    seconds: float
    analyze_seconds: float


def _table_count(target: PostgresTarget) -> int:
    with target.connect() as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname <> ALL(%s)", (list(SYSTEM_SCHEMAS),)
        ).fetchone()
    return int(row[0]) if row else 0


def _prepare_fresh(target: PostgresTarget) -> bool:
    """Create the target database, or check that it holds no table.

    Args:
        target: The database to restore into.

    Returns:
        Whether it was created.

    Raises:
        BackupError: It exists and holds tables.
    """
    with target.with_database(MAINTENANCE_DATABASE).connect() as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))
            return True
    tables = _table_count(target)
    if tables:
        raise BackupError(
            f"database {target.dbname!r} already holds {tables} tables: restore into a fresh "
            "database (a new name, or a new instance), or drop this one first if you mean to "
            "replace it"
        )
    return False


# --8<-- [start:db_restore]
def db_restore(*, dump: Path, database_url: str, jobs: int = 2) -> RestoreResult:
    """Restore a ``db_backup`` file into a fresh database, then ``ANALYZE`` it.

    Args:
        dump: The file ``db_backup`` wrote.
        database_url: The database to restore into, straight to PostgreSQL: it must not exist
            (it is created) or hold no table.
        jobs: Tables restored (and indexes built) in parallel.

    Returns:
        What was restored, and how long it took.

    Raises:
        BackupError: No such file, the target holds tables, or ``pg_restore`` failed.
    """
    if not dump.is_file():
        raise BackupError(f"no backup file at {dump}")
    if jobs < 1:
        raise BackupError("jobs must be 1 or more")
    target = PostgresTarget.from_url(database_url)
    created = _prepare_fresh(target)
    started = time.perf_counter()
    _run(
        [
            client_program("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--jobs={jobs}",
            f"--dbname={target.conninfo}",
            str(dump),
        ],
        target,
    )
    seconds = time.perf_counter() - started
    with target.connect() as connection:
        connection.execute("ANALYZE")
    return RestoreResult(
        database=target.dbname,
        created=created,
        tables=_table_count(target),
        seconds=seconds,
        analyze_seconds=time.perf_counter() - started - seconds,
    )


# --8<-- [end:db_restore]


@dataclass(frozen=True)
class TableFingerprint:
    """What a table holds, in two figures that two copies share only if their rows match.

    Attributes:
        rows: Row count.
        digest: MD5 of every row's text, in a fixed order.
    """

    rows: int
    digest: str


def database_fingerprint(*, database_url: str) -> dict[str, TableFingerprint]:
    """Fingerprint every table and sequence of the ``public`` schema.

    Two databases with the same fingerprint hold the same rows, and their sequences would hand
    out the same next ids: what a restore must give back.

    Args:
        database_url: The database, straight to PostgreSQL.

    Returns:
        ``{"table name": TableFingerprint, "sequence name": TableFingerprint(last_value, "")}``.
    """
    target = PostgresTarget.from_url(database_url)
    figures: dict[str, TableFingerprint] = {}
    with target.connect() as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        for table in tables:
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                " FROM {} AS t"
            ).format(sql.Identifier(table))
            row = connection.execute(query).fetchone()
            if row is not None:
                figures[table] = TableFingerprint(rows=int(row[0]), digest=str(row[1]))
        for name, last_value in connection.execute(
            "SELECT sequencename, coalesce(last_value, 0) FROM pg_sequences "
            "WHERE schemaname = 'public' ORDER BY 1"
        ):
            figures[f"sequence {name}"] = TableFingerprint(rows=int(last_value), digest="")
    return figures
