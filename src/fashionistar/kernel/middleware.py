"""Django's own middleware, without a thread hop under ASGI where a hook does no I/O.

Django's middleware (security, sessions, CSRF, authentication, messages, ...) is built on
``MiddlewareMixin``, which under ASGI runs every ``process_request``, ``process_view`` and
``process_response`` through ``sync_to_async``: a hop to a thread and back, fifteen per request
for the eight in ``MIDDLEWARE``, though most of these hooks only read and set headers. The
subclasses here keep Django's hooks (all but the CSP header's, built once per policy) and only
choose where they run: on the event loop when the hook touches no database or cache, in a thread
(as Django does) when it may:

- the session middleware's response hook saves a session that changed (a database write);
- the messages middleware's response hook stores messages, which may load the session;
- CSRF checks an unsafe request in a thread (it may read a form body and render the failure
  page), and every hook of it with ``CSRF_USE_SESSIONS`` (the token is in the session).

``MIDDLEWARE`` keeps Django's own paths, which ``check --deploy`` looks for by name (it would
skip its HTTPS, HSTS, CSRF and session cookie checks otherwise); :class:`ASGIHandler`, the
application that ``fashionistar.project.asgi`` serves, builds its chain with each replaced by its
subclass here, and lends each request a kept thread for its sync code (:class:`RequestThreads`).
:class:`WSGIHandler`, which ``fashionistar.project.wsgi`` serves, builds its chain the same way:
under WSGI the hooks run as Django's do.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import BadRequest
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIHandler as DjangoWSGIHandler
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csp, csrf, security
from django.utils.csp import CSP, build_policy
from django.utils.deprecation import MiddlewareMixin

from fashionistar.kernel.apis import UnsupportedMediaType, api_error

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


# --8<-- [start:on_the_loop]
class OnTheLoop(MiddlewareMixin):
    """Run a ``MiddlewareMixin``'s hooks on the event loop unless one says it needs a thread."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        """Django's middleware; under ASGI its view hook, if any, becomes a coroutine function.

        Args:
            get_response: The rest of the chain.
        """
        super().__init__(get_response)
        if self.async_mode and hasattr(self, "process_view"):
            # Django reads process_view once, and runs a sync one through sync_to_async. (Not
            # `self.process_view = ...`: that would declare it on OnTheLoop for type checkers.)
            setattr(self, "process_view", self._process_view_on_the_loop)  # noqa: B010

    def view_needs_thread(self, request: HttpRequest, callback: Callable[..., Any]) -> bool:
        """Whether ``process_view`` may do I/O for this view (never, unless overridden).

        Args:
            request: The request.
            callback: The view.

        Returns:
            Whether to run the hook in a thread.
        """
        return False

    def request_needs_thread(self, request: HttpRequest) -> bool:
        """Whether ``process_request`` may do I/O for this request (never, unless overridden).

        Args:
            request: The request.

        Returns:
            Whether to run the hook in a thread.
        """
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether ``process_response`` may do I/O for this response (never, unless overridden).

        Args:
            request: The request.
            response: The response.

        Returns:
            Whether to run the hook in a thread.
        """
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Django's ``MiddlewareMixin.__acall__``, with a hop only where a hook needs it.

        Args:
            request: The request.

        Returns:
            The response.
        """
        response: HttpResponseBase | None = None
        if hasattr(self, "process_request"):
            response = await _run(self.process_request, self.request_needs_thread(request), request)
        if response is None:
            rest_of_chain = cast(
                Callable[[HttpRequest], Awaitable[HttpResponseBase]], self.get_response
            )
            response = await rest_of_chain(request)
        if hasattr(self, "process_response"):
            needs_thread = self.response_needs_thread(request, response)
            response = await _run(self.process_response, needs_thread, request, response)
        return cast(HttpResponseBase, response)

    async def _process_view_on_the_loop(
        self, request: HttpRequest, callback: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        hook = type(self).process_view.__get__(self)  # type: ignore[attr-defined]  # the class hook
        in_thread = self.view_needs_thread(request, callback)
        result: HttpResponseBase | None = await _run(
            hook, in_thread, request, callback, args, kwargs
        )
        return result


async def _run(hook: Callable[..., Any], in_thread: bool, *args: Any) -> Any:
    if in_thread:
        return await sync_to_async(hook, thread_sensitive=True)(*args)
    return hook(*args)


# --8<-- [end:on_the_loop]


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    """Django's ``SecurityMiddleware``: headers and the HTTPS redirect, on the loop."""


# --8<-- [start:csp_built_once]
class ContentSecurityPolicyMiddleware(OnTheLoop, csp.ContentSecurityPolicyMiddleware):
    """Django's ``ContentSecurityPolicyMiddleware``, on the loop, each policy's header built once.

    Django renders the header from the policy's dictionary on every response. A response whose
    nonce nothing read (an API answer, a page without inline script) gets the same text every
    time from the same policy, so that text is built once per policy (the settings' two, each
    ``csp_override``) and kept. A response whose nonce a template read gets the header Django
    builds for it. A policy is told apart by identity: settings replaced (``override_settings``)
    are new policies; a policy dictionary edited in place is not seen.
    """

    def __init__(self, get_response: Callable[..., Any]) -> None:
        """Django's middleware, with no header built yet.

        Args:
            get_response: The rest of the chain.
        """
        super().__init__(get_response)
        self._built: dict[int, tuple[dict[str, Any], str]] = {}

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """Add the enforced and report-only headers, unless the response has its own.

        Args:
            request: The request.
            response: The response.

        Returns:
            The response.
        """
        if csp.get_nonce(request):  # read by a template: the header names this response's nonce
            return super().process_response(request, response)
        for header, setting, attribute in _CSP_HEADERS:
            config = getattr(response, attribute, None)
            if config is None:
                config = getattr(settings, setting)
            if config and header not in response:
                response.headers[header] = self._policy(config)
        return response

    def _policy(self, config: dict[str, Any]) -> str:
        kept = self._built.get(id(config))
        if kept is None or kept[0] is not config:
            kept = self._built[id(config)] = (config, build_policy(config))
        return kept[1]


_CSP_HEADERS = (
    (str(CSP.HEADER_ENFORCE), "SECURE_CSP", "_csp_config"),
    (str(CSP.HEADER_REPORT_ONLY), "SECURE_CSP_REPORT_ONLY", "_csp_ro_config"),
)
"""Each header, the setting of its policy, and the response attribute of a view's override."""
# --8<-- [end:csp_built_once]


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    """Django's ``CommonMiddleware``: slash redirects (a URL lookup) and lengths, on the loop."""


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    """Django's ``XFrameOptionsMiddleware``: a header, on the loop."""


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware``: it sets a lazy ``request.user``, read later."""


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    """Django's ``SessionMiddleware``: a thread only to save a session that must be saved."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether the session will be saved (Django saves a modified one, or every one).

        Args:
            request: The request.
            response: The response.

        Returns:
            Whether to run the hook in a thread.
        """
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    """Django's ``MessageMiddleware``: a thread only when there are messages to store."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether the storage will store messages (the fallback storage may use the session).

        Args:
            request: The request.
            response: The response.

        Returns:
            Whether to run the hook in a thread.
        """
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    """Django's ``CsrfViewMiddleware``: a safe or exempt request is checked on the loop."""

    def view_needs_thread(self, request: HttpRequest, callback: Callable[..., Any]) -> bool:
        """Whether the check may read a form body or render the failure page.

        Args:
            request: The request.
            callback: The view.

        Returns:
            Whether to run the hook in a thread.
        """
        exempt = getattr(callback, "csrf_exempt", False)
        return self.uses_session or (request.method not in SAFE_METHODS and not exempt)

    @property
    def uses_session(self) -> bool:
        """Whether the token is in the session (``CSRF_USE_SESSIONS``): each hook may load it."""
        return bool(settings.CSRF_USE_SESSIONS)

    def request_needs_thread(self, request: HttpRequest) -> bool:
        """Whether reading the token may load the session.

        Args:
            request: The request.

        Returns:
            Whether to run the hook in a thread.
        """
        return self.uses_session

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether storing the token may load the session.

        Args:
            request: The request.
            response: The response.

        Returns:
            Whether to run the hook in a thread.
        """
        return self.uses_session


ON_THE_LOOP = {
    f"{django_class.__module__}.{django_class.__qualname__}": f"{__name__}.{name}"
    for name, django_class in [
        ("SecurityMiddleware", security.SecurityMiddleware),
        ("ContentSecurityPolicyMiddleware", csp.ContentSecurityPolicyMiddleware),
        ("SessionMiddleware", sessions.SessionMiddleware),
        ("CommonMiddleware", common.CommonMiddleware),
        ("CsrfViewMiddleware", csrf.CsrfViewMiddleware),
        ("AuthenticationMiddleware", auth.AuthenticationMiddleware),
        ("MessageMiddleware", messages.MessageMiddleware),
        ("XFrameOptionsMiddleware", clickjacking.XFrameOptionsMiddleware),
    ]
}
"""A Django middleware's path -> its subclass here."""


# --8<-- [start:request_threads]
class RequestThreads:
    """Threads for the requests' sync code: one per request in flight, kept between requests.

    Django's ASGI handler runs each request in a ``ThreadSensitiveContext`` of its own, so that
    the request's sync code (its ``request_started`` and ``request_finished`` receivers, a sync
    view, ORM calls through ``sync_to_async``) runs in one thread, apart from other requests'.
    Left to itself, the context starts that thread at the request's first sync call and, on
    leaving, starts a second thread to join the first: two new threads per request. Here a
    request borrows a single-thread executor that outlives it instead, as a WSGI server's
    threads outlive their requests (Django's ``request_finished`` receivers close or give back
    the thread's database connections, as under WSGI).
    """

    def __init__(self, *, max_idle: int = 64) -> None:
        """Start with no thread.

        Args:
            max_idle: Threads kept waiting for a request; one more, given back after a burst of
                requests, ends.
        """
        self.max_idle = max_idle
        self._idle: deque[ThreadPoolExecutor] = deque()

    def lend(self) -> ThreadPoolExecutor:
        """Return an idle executor, or a new one (its thread starts with its first call).

        Returns:
            An executor with one thread, which nothing else uses until it is given back.
        """
        try:
            return self._idle.pop()
        except IndexError:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        """Make an executor idle once what was handed to it has run.

        A sync call may outlive its request (the client left and the await was cancelled): the
        executor is lent again only after that call returns.

        Args:
            executor: An executor of :meth:`lend`.
        """
        executor.submit(self._keep, executor)

    @property
    def idle(self) -> int:
        """How many threads wait for a request."""
        return len(self._idle)

    def forget(self) -> None:
        """Drop the idle executors (in a forked child, where their threads do not exist)."""
        self._idle.clear()

    def _keep(self, executor: ThreadPoolExecutor) -> None:
        # Runs in the executor's own thread; deque.append is thread-safe.
        if len(self._idle) < self.max_idle:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)  # the thread ends after this call


REQUEST_THREADS = RequestThreads()
os.register_at_fork(after_in_child=REQUEST_THREADS.forget)
# --8<-- [end:request_threads]


# --8<-- [start:asgi_handler]
class _ChainWithSubclasses:
    """A handler whose chain is built from ``MIDDLEWARE`` with :data:`ON_THE_LOOP`'s subclasses."""

    def load_middleware(self, is_async: bool = False) -> None:
        """Build the chain as Django does, from ``MIDDLEWARE`` with Django's paths replaced.

        Args:
            is_async: Whether the chain is async.
        """
        listed = settings.MIDDLEWARE
        # Django reads the chain from the setting alone; it is replaced only while it builds.
        settings.MIDDLEWARE = [ON_THE_LOOP.get(path, path) for path in listed]
        try:
            super().load_middleware(is_async)  # type: ignore[misc]  # the handler's
        finally:
            settings.MIDDLEWARE = listed


def unreadable_request(path: str) -> HttpResponse:
    """The answer to a request Django cannot build: a ``Content-Type`` header it cannot parse.

    Django raises ``BadRequest`` while it builds the request object, before any middleware or
    exception handling, and its handlers let it out: a 500 in plain text from the server.

    Args:
        path: The request's path.

    Returns:
        415 in the API's error shape under ``/api/``, Django's plain 400 elsewhere.
    """
    if path.startswith("/api/"):
        error = api_error(UnsupportedMediaType)
        return JsonResponse(error.as_dict(), status=error.status_code)
    return HttpResponseBadRequest()


class ASGIHandler(_ChainWithSubclasses, DjangoASGIHandler):
    """Django's ASGI application, its chain built with :data:`ON_THE_LOOP`'s middleware.

    Each HTTP request's sync code runs in a thread lent by :data:`REQUEST_THREADS`; a request
    Django cannot build gets :func:`unreadable_request`'s answer.
    """

    def create_request(
        self, scope: Mapping[str, Any], body_file: Any
    ) -> tuple[ASGIRequest, None] | tuple[None, HttpResponseBase]:
        """Build the request as Django does, or the answer to one it cannot build.

        Args:
            scope: The connection's scope.
            body_file: The request's body.

        Returns:
            ``(request, None)``, or ``(None, response)``.
        """
        try:
            return super().create_request(scope, body_file)
        except BadRequest:
            return None, unreadable_request(scope["path"])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Handle one connection's request as Django does, in a lent thread's context.

        Args:
            scope: The connection's scope.
            receive: Receives the request's events.
            send: Sends the response's events.
        """
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # Django refuses it
            return
        executor = REQUEST_THREADS.lend()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            REQUEST_THREADS.give_back(executor)


class WSGIHandler(_ChainWithSubclasses, DjangoWSGIHandler):
    """Django's WSGI application, its chain built with the same subclasses.

    Under WSGI a subclass runs Django's hooks as Django does; the CSP middleware's header is
    built once per policy (:class:`ContentSecurityPolicyMiddleware`). A request Django cannot
    build gets :func:`unreadable_request`'s answer.
    """

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer one request as Django does, or answer one it cannot build.

        Args:
            environ: The WSGI environment.
            start_response: The server's ``start_response``.

        Returns:
            The response, which the server iterates and closes.
        """
        try:
            return super().__call__(environ, start_response)
        except BadRequest:  # from building the request: the chain turns its own into 400s
            response = unreadable_request(environ.get("PATH_INFO", "/"))
            start_response(f"{response.status_code} {response.reason_phrase}", [*response.items()])
            return response


# --8<-- [end:asgi_handler]
