"""Render PgBouncer's configuration from the one template every environment shares."""

from __future__ import annotations

from importlib.resources import files
from string import Template

TEMPLATE_NAME = "pgbouncer.ini.template"


def pgbouncer_template() -> str:
    """Return the text of the shared PgBouncer template.

    Returns:
        The template, with ``${name}`` placeholders.
    """
    return files("fashionistar_dev.stack").joinpath(TEMPLATE_NAME).read_text()


def render_pgbouncer_ini(
    *,
    postgres_host: str,
    postgres_port: int,
    listen_port: int,
    auth_file: str,
    logfile: str,
    pidfile: str,
    listen_addr: str = "127.0.0.1",
    unix_socket_dir: str = "",
    auth_type: str = "trust",
    admin_users: str = "postgres",
) -> str:
    """Fill the shared template for one PgBouncer instance.

    The pooling settings (transaction mode, pool size, client limit) are fixed in the
    template; only addresses, files and authentication vary between environments.

    Args:
        postgres_host: Host or socket directory of the PostgreSQL server.
        postgres_port: Port of the PostgreSQL server.
        listen_port: Port PgBouncer listens on.
        auth_file: Path of the ``userlist.txt`` file.
        logfile: Path of PgBouncer's log file.
        pidfile: Path of PgBouncer's pid file.
        listen_addr: Address PgBouncer binds to.
        unix_socket_dir: Directory for PgBouncer's own socket; empty disables it.
        auth_type: PgBouncer ``auth_type`` (``trust`` for the throwaway stack,
            ``scram-sha-256`` in deployments).
        admin_users: Users allowed on the ``pgbouncer`` admin console.

    Returns:
        The configuration file's text.

    Example:
        ```py
        from fashionistar_dev.stack.pgbouncer import render_pgbouncer_ini

        ini = render_pgbouncer_ini(
            postgres_host="127.0.0.1",
            postgres_port=5432,
            listen_port=6432,
            auth_file="/etc/pgbouncer/userlist.txt",
            logfile="/var/log/pgbouncer/pgbouncer.log",
            pidfile="/run/pgbouncer/pgbouncer.pid",
        )
        print([line for line in ini.splitlines() if line.startswith("pool_mode")])
        #> ['pool_mode = transaction']
        ```
    """
    return Template(pgbouncer_template()).substitute(
        postgres_host=postgres_host,
        postgres_port=postgres_port,
        listen_addr=listen_addr,
        listen_port=listen_port,
        unix_socket_dir=unix_socket_dir,
        auth_type=auth_type,
        auth_file=auth_file,
        admin_users=admin_users,
        logfile=logfile,
        pidfile=pidfile,
    )
