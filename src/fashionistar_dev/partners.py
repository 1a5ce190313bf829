"""A fake card gateway: a real HTTP server that charges nothing, for tests, docs and ``make serve``.

Run it with ``python -m fashionistar_dev.partners --port 8090 --latency-ms 50
--failure-rate 0.1``, or in a thread with :func:`serve_in_thread`. The API:

- ``POST /v1/charges`` with JSON ``{"amount": "12.50", "currency": "EUR", "card_token":
  "tok_visa", "reference": "order-1"}``: ``201`` and the charge (``"status": "succeeded"``);
  card token ``tok_declined`` gives ``402`` (``"status": "declined"``); with a failure rate, a
  random ``503`` (nothing charged). A bad body gives ``400``.
- An ``Idempotency-Key`` header makes retries safe at the network: the same key and body give
  the stored first response again (header ``Idempotent-Replayed: true``), a different body
  ``422``, and a request while the first is still being processed ``409``. A ``503`` is not
  stored: retrying the key charges for real.
- ``GET /v1/charges?reference=...``: ``{"count": n, "data": [...]}``, the charges really made,
  so tests can count them.
- ``GET /v1/health``: ``200``.

Listing charges takes the same latency as making one. The server also stands in for two partners
that checkout asks (see ``fashionistar.orders.async_services``), with the same latency:

- ``POST /v1/shipping/quotes`` with ``{"country": "DE", "items": 2}``: ``200`` and
  ``{"amount": "5.90", "currency": "EUR", "days": 2}``.
- ``POST /v1/fraud/checks`` with ``{"amount": "89.00", "currency": "EUR", "customer": "42"}``:
  ``200`` and ``{"score": 0.02, "verdict": "accept"}`` (``"review"`` from a score of 0.5).

``GatewayState.peak_in_flight`` counts the most requests it ever served at once, so a test can
prove that a client really overlapped its calls without timing anything.

Only the standard library is used, so the server starts in a few milliseconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DECLINED_TOKEN = "tok_declined"  # noqa: S105 - a test card, not a secret
MAX_BODY_BYTES = 64 * 1024
CHARGE_FIELDS = ("amount", "currency", "card_token", "reference")
EU_COUNTRIES = frozenset(
    ["AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "LU", "NL", "PT", "SE"]
)
FRAUD_REVIEW_SCORE = 0.5


@dataclass
class _Stored:
    fingerprint: str
    done: bool = False
    status: int = 0
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class GatewayState:
    """What the gateway remembers: the charges it made and its idempotency keys.

    Attributes:
        latency_s: Seconds every request but the health check takes.
        failure_rate: Share of charge requests answered with ``503`` (0 to 1).
        charges: Every charge made, declined ones included, in order.
    """

    latency_s: float = 0.0
    failure_rate: float = 0.0
    charges: list[dict[str, Any]] = field(default_factory=list)
    peak_in_flight: int = 0
    _in_flight: int = 0
    _keys: dict[str, _Stored] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(default_factory=random.Random)

    def charge(self, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any], bool]:
        """Handle one charge request.

        Args:
            body: The validated JSON body.
            key: The ``Idempotency-Key`` header, if any.

        Returns:
            The status, the JSON body, and whether it is a replay of a stored response.
        """
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if key is not None:
            with self._lock:
                stored = self._keys.get(key)
                if stored is None:
                    self._keys[key] = _Stored(fingerprint=fingerprint)
                elif stored.fingerprint != fingerprint:
                    return (
                        422,
                        _error("idempotency_key_reused", "Key used with another body."),
                        False,
                    )
                elif not stored.done:
                    return 409, _error("idempotency_key_in_flight", "Request in progress."), False
                else:
                    return stored.status, stored.body, True
        self.wait()
        with self._lock:
            if self._random.random() < self.failure_rate:
                if key is not None:
                    del self._keys[key]
                return 503, _error("unavailable", "Try again later."), False
            declined = body["card_token"] == DECLINED_TOKEN
            charge = {
                "id": f"ch_{secrets.token_hex(12)}",
                "object": "charge",
                "status": "declined" if declined else "succeeded",
                "amount": body["amount"],
                "currency": body["currency"],
                "reference": body["reference"],
                "created": int(time.time()),
            }
            self.charges.append(charge)
            status = 402 if declined else 201
            if key is not None:
                self._keys[key] = _Stored(fingerprint, done=True, status=status, body=charge)
            return status, charge, False

    def wait(self) -> None:
        """Take ``latency_s`` to answer, counting the requests being answered at once."""
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            time.sleep(self.latency_s)
        finally:
            with self._lock:
                self._in_flight -= 1

    def charges_for(self, reference: str | None) -> list[dict[str, Any]]:
        """Return the charges made, for one reference or all.

        Args:
            reference: The reference to filter on; ``None`` for every charge.

        Returns:
            The charges, oldest first.
        """
        with self._lock:
            return [c for c in self.charges if reference is None or c["reference"] == reference]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def validate_charge(body: object) -> dict[str, Any] | str:
    """Check a charge body.

    Args:
        body: The parsed JSON.

    Returns:
        The body with only the known fields, or a message saying what is wrong.
    """
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    missing = [name for name in CHARGE_FIELDS if not isinstance(body.get(name), str)]
    if missing:
        return f"Missing or not a string: {', '.join(missing)}."
    amount = _positive_amount(body["amount"])
    if amount is None or amount != amount.quantize(Decimal("0.01")):
        return "amount must be positive, with at most 2 decimals."
    if not _currency_ok(body["currency"]):
        return "currency must be a 3-letter code."
    return {name: body[name] for name in CHARGE_FIELDS}


def _positive_amount(value: object) -> Decimal | None:
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        return None
    if amount is None or not amount.is_finite() or amount <= 0:
        return None
    return amount


def _currency_ok(value: object) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isalpha()


def shipping_quote(body: object) -> tuple[int, dict[str, Any]]:
    """Quote shipping for a number of items to a country.

    Args:
        body: The parsed JSON: ``{"country": "DE", "items": 2}``.

    Returns:
        The status and the JSON body.
    """
    if not isinstance(body, dict):
        return 400, _error("invalid_request", "The body must be a JSON object.")
    country, items = body.get("country"), body.get("items")
    if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
        return 400, _error("invalid_request", "country must be a 2-letter code.")
    if not isinstance(items, int) or isinstance(items, bool) or not 1 <= items <= 1000:
        return 400, _error("invalid_request", "items must be an integer from 1 to 1000.")
    amount = Decimal("4.90") + (items - 1) * Decimal("1.00")
    return 200, {
        "amount": str(amount),
        "currency": "EUR",
        "days": 2 if country.upper() in EU_COUNTRIES else 6,
    }


def fraud_check(body: object) -> tuple[int, dict[str, Any]]:
    """Score a payment: the larger the amount, the riskier.

    Args:
        body: The parsed JSON: ``{"amount": "89.00", "currency": "EUR", "customer": "42"}``.

    Returns:
        The status and the JSON body.
    """
    if not isinstance(body, dict):
        return 400, _error("invalid_request", "The body must be a JSON object.")
    amount = _positive_amount(body.get("amount"))
    if amount is None or not _currency_ok(body.get("currency")):
        return 400, _error("invalid_request", "amount must be positive, currency 3 letters.")
    if not isinstance(body.get("customer"), str):
        return 400, _error("invalid_request", "customer must be a string.")
    score = round(min(float(amount) / 5000, 0.99), 2)
    verdict = "review" if score >= FRAUD_REVIEW_SCORE else "accept"
    return 200, {"score": score, "verdict": verdict}


PARTNER_ENDPOINTS = {"/v1/shipping/quotes": shipping_quote, "/v1/fraud/checks": fraud_check}


class GatewayServer(ThreadingHTTPServer):
    """The HTTP server, holding the gateway's state."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: GatewayState, *, quiet: bool) -> None:
        super().__init__(address, GatewayHandler)
        self.state = state
        self.quiet = quiet

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (a client that timed out); report anything else.

        Args:
            request: The connection.
            client_address: The client's address.
        """
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """Return the base URL, ``http://host:port``.

        Returns:
            The URL.
        """
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class GatewayHandler(BaseHTTPRequestHandler):
    """One request to the gateway."""

    server: GatewayServer
    protocol_version = "HTTP/1.1"
    # The headers and the body go out in two writes: with Nagle's algorithm, a kept-alive
    # connection waits for the client's delayed ACK between them (about 40 ms a request).
    disable_nagle_algorithm = True

    def _send(self, status: int, body: dict[str, Any], *, replayed: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """Answer the health check and the charge list."""
        parts = urlsplit(self.path)
        if parts.path == "/v1/health":
            self._send(200, {"status": "ok"})
        elif parts.path == "/v1/charges":
            reference = parse_qs(parts.query).get("reference", [None])[0]
            self.server.state.wait()
            charges = self.server.state.charges_for(reference)
            self._send(200, {"count": len(charges), "data": charges})
        else:
            self._send(404, _error("not_found", "No such endpoint."))

    def do_POST(self) -> None:
        """Make a charge, quote shipping or check for fraud."""
        path = urlsplit(self.path).path
        partner = PARTNER_ENDPOINTS.get(path)
        if path != "/v1/charges" and partner is None:
            self._send(404, _error("not_found", "No such endpoint."))
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, _error("too_large", "Body too large."))
            return
        try:
            parsed: object = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            parsed = None
        if partner is not None:
            self.server.state.wait()
            self._send(*partner(parsed))
            return
        body = validate_charge(parsed)
        if isinstance(body, str):
            self._send(400, _error("invalid_request", body))
            return
        key = self.headers.get("Idempotency-Key")
        status, answer, replayed = self.server.state.charge(body, key)
        self._send(status, answer, replayed=replayed)

    def log_message(self, format: str, *args: Any) -> None:
        """Log to stderr unless the server is quiet.

        Args:
            format: The ``%`` format.
            *args: Its arguments.
        """
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    latency_ms: int = 0,
    failure_rate: float = 0.0,
    seed: int | None = None,
    quiet: bool = True,
) -> GatewayServer:
    """Bind a gateway server; call ``serve_forever()`` on it (or use :func:`serve_in_thread`).

    Args:
        host: The address to listen on.
        port: The port; ``0`` picks a free one (read it back from ``server.url``).
        latency_ms: How long each charge request takes.
        failure_rate: Share of charge requests answered with ``503``, 0 to 1.
        seed: Seed of the failure dice, for repeatable runs.
        quiet: Do not log requests.

    Returns:
        The bound server.

    Raises:
        ValueError: A negative latency or a failure rate outside 0 to 1.
    """
    if latency_ms < 0 or not 0.0 <= failure_rate <= 1.0:
        raise ValueError("latency_ms must be >= 0 and failure_rate between 0 and 1")
    state = GatewayState(
        latency_s=latency_ms / 1000,
        failure_rate=failure_rate,
        _random=random.Random(seed),  # noqa: S311 - dice, not secrets
    )
    return GatewayServer((host, port), state, quiet=quiet)


@contextmanager
def serve_in_thread(**options: Any) -> Iterator[GatewayServer]:
    """Run a gateway in a background thread for the duration of a ``with`` block.

    Args:
        **options: The keyword arguments of :func:`make_server`.

    Yields:
        The running server (``server.url``, ``server.state``).
    """
    server = make_server(**options)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="fake-gateway",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: list[str] | None = None) -> int:
    """Run the gateway until interrupted.

    Args:
        argv: The command-line arguments (``sys.argv[1:]`` by default).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        server = make_server(
            host=args.host,
            port=args.port,
            latency_ms=args.latency_ms,
            failure_rate=args.failure_rate,
            seed=args.seed,
            quiet=args.quiet,
        )
    except ValueError as error:
        parser.error(str(error))
    print(f"fake gateway listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
