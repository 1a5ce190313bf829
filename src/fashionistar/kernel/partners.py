"""What every call to an outside partner (card gateway, shipping, fraud check) shares."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def partner_tls() -> ssl.SSLContext:
    """Return the TLS settings of the partners' HTTP clients, built once per process.

    An ``httpx`` client built without one loads the CA bundle again, tens of milliseconds of a
    request that opens a client per call. The context is safe to share between threads and
    event loops.

    Returns:
        httpx's default context: certificates verified against its CA bundle.
    """
    return httpx.create_ssl_context()
