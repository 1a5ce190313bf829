"""Django's middleware on the event loop: no thread hop unless a hook does I/O, then Django's."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse
from django.middleware import csp
from django.test import AsyncRequestFactory, RequestFactory
from django.urls import path
from django.utils.csp import CSP
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from fashionistar.kernel import middleware
from fashionistar.observability import request_spans
from fashionistar.observability.tracing import traced
from tests.middleware_chain import hop_names, serve_async


async def probe(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def remember(request: HttpRequest) -> HttpResponse:
    await request.session.aset("size", "M")
    return HttpResponse("remembered")


async def notify(request: HttpRequest) -> HttpResponse:
    messages.info(request, "Saved")
    return HttpResponse("notified")


def where(request: HttpRequest) -> HttpResponse:
    return HttpResponse(threading.current_thread().name)


both_in_a_view = threading.Barrier(2, timeout=5)


def meet(request: HttpRequest) -> HttpResponse:
    both_in_a_view.wait()
    return HttpResponse(str(threading.get_ident()))


class InTheView:
    """Set by :func:`hang` once a request reached it (made on the test's event loop)."""

    entered: asyncio.Event


async def hang(request: HttpRequest) -> HttpResponse:
    InTheView.entered.set()
    await asyncio.Event().wait()  # until the request is cancelled
    raise AssertionError("unreachable")


urlpatterns = [  # this module is the tests' ROOT_URLCONF
    path("probe", probe),
    path("exempt", csrf_exempt(probe)),
    path("remember", remember),
    path("notify", notify),
    path("where", where),
    path("meet", meet),
    path("hang", hang),
]

DJANGOS = [name for name in settings.MIDDLEWARE if name.startswith("django.")]


def send(request: HttpRequest, settings) -> HttpResponse:
    response, _ = serve_async(
        request, middleware=settings.MIDDLEWARE, urlconf=__name__, settings=settings
    )
    assert isinstance(response, HttpResponse)
    return response


def test_the_settings_list_djangos_paths_and_each_has_its_subclass() -> None:
    # check --deploy looks for Django's paths; the ASGI application swaps them.
    assert [name for name in middleware.ON_THE_LOOP if name.startswith("django.")] == DJANGOS
    for name, replacement in middleware.ON_THE_LOOP.items():
        assert issubclass(import_string(replacement), import_string(name))


@pytest.mark.parametrize("handler", [middleware.ASGIHandler, middleware.WSGIHandler])
def test_the_applications_build_their_chain_with_the_subclasses(handler, settings) -> None:
    listed = list(settings.MIDDLEWARE)

    layer = handler()._middleware_chain
    built = []
    while hasattr(layer.__wrapped__, "get_response"):  # wrapped: convert_exception_to_response
        instance = layer.__wrapped__
        built.append(f"{type(instance).__module__}.{type(instance).__name__}")
        layer = instance.get_response

    assert built == [middleware.ON_THE_LOOP.get(name, name) for name in listed]
    assert listed == settings.MIDDLEWARE


@pytest.mark.parametrize("name", list(middleware.ON_THE_LOOP.values()))
def test_each_takes_the_mode_of_the_chain(name: str) -> None:
    middleware_class = import_string(name)

    async def async_chain(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    on_the_loop = middleware_class(async_chain)
    in_wsgi = middleware_class(lambda request: HttpResponse())

    assert iscoroutinefunction(on_the_loop)
    assert not iscoroutinefunction(in_wsgi)
    if hasattr(middleware_class, "process_view"):  # Django's hook, unchanged under WSGI
        assert iscoroutinefunction(on_the_loop.process_view)
        assert not iscoroutinefunction(in_wsgi.process_view)


def test_the_shops_wsgi_application_is_the_kernels_handler() -> None:
    from fashionistar.project.wsgi import application

    assert isinstance(application.application, middleware.WSGIHandler)  # behind static files


POLICY = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "img-src": {"data:", CSP.SELF},  # a set: Django sorts it
    "upgrade-insecure-requests": True,
}
REPORT_ONLY = {"default-src": [CSP.NONE], "report-uri": "/csp-reports"}


def csp_headers(
    middleware_class: type, request: HttpRequest, response: HttpResponse
) -> dict[str, str]:
    answered = middleware_class(lambda request: response).process_response(request, response)
    return {name: value for name, value in answered.items() if "Content-Security" in name}


def csp_request(*, nonce_read: bool) -> HttpRequest:
    request = RequestFactory().get("/")
    csp.ContentSecurityPolicyMiddleware(HttpResponse).process_request(request)
    if nonce_read:
        str(request._csp_nonce)  # type: ignore[attr-defined]  # what {{ csp_nonce }} does
    return request


def settings_policies() -> HttpResponse:
    return HttpResponse()


def a_views_policy() -> HttpResponse:
    response = HttpResponse()
    response._csp_config = {"default-src": [CSP.NONE]}  # type: ignore[attr-defined]  # csp_override
    return response


def report_only_turned_off() -> HttpResponse:
    response = HttpResponse()
    response._csp_ro_config = {}  # type: ignore[attr-defined]  # csp_report_only_override({})
    return response


def its_own_header() -> HttpResponse:
    return HttpResponse(headers={"Content-Security-Policy": "sandbox"})


@pytest.mark.parametrize("nonce_read", [False, True])
@pytest.mark.parametrize(
    "response", [settings_policies, a_views_policy, report_only_turned_off, its_own_header]
)
def test_the_csp_header_built_once_is_djangos(response, nonce_read, settings) -> None:
    settings.SECURE_CSP, settings.SECURE_CSP_REPORT_ONLY = POLICY, REPORT_ONLY
    request = csp_request(nonce_read=nonce_read)

    ours = csp_headers(middleware.ContentSecurityPolicyMiddleware, request, response())

    assert ours == csp_headers(csp.ContentSecurityPolicyMiddleware, request, response())
    if response is settings_policies:
        assert ("'nonce-" in ours["Content-Security-Policy"]) is nonce_read


def test_a_csp_policy_replaced_in_the_settings_is_built_again(settings) -> None:
    csp_middleware = middleware.ContentSecurityPolicyMiddleware(HttpResponse)
    settings.SECURE_CSP = POLICY
    csp_middleware.process_response(csp_request(nonce_read=False), HttpResponse())

    settings.SECURE_CSP = {"default-src": [CSP.NONE]}
    answered = csp_middleware.process_response(csp_request(nonce_read=False), HttpResponse())

    assert answered["Content-Security-Policy"] == "default-src 'none'"


def test_a_get_crosses_the_whole_chain_without_a_thread_hop(thread_hops, settings) -> None:
    response = send(AsyncRequestFactory().get("/probe"), settings)

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Length"] == "2"
    assert thread_hops == []


def test_an_exempt_post_crosses_it_without_a_hop_too(thread_hops, settings) -> None:
    response = send(AsyncRequestFactory().post("/exempt"), settings)

    assert response.status_code == 200
    assert thread_hops == []


def test_a_post_without_a_csrf_token_is_checked_in_a_thread_and_refused(
    thread_hops, settings
) -> None:
    response = send(AsyncRequestFactory().post("/probe"), settings)

    assert response.status_code == 403
    # Django's handler logs every 4xx through a thread too.
    assert hop_names(thread_hops) == ["CsrfViewMiddleware.process_view", "log_response"]


@pytest.mark.django_db
def test_a_changed_session_is_saved_in_a_thread(thread_hops, settings) -> None:
    response = send(AsyncRequestFactory().get("/remember"), settings)

    assert response.status_code == 200
    assert hop_names(thread_hops) == ["SessionMiddleware.process_response"]
    key = response.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.get(session_key=key).get_decoded() == {"size": "M"}


@pytest.mark.django_db
def test_new_messages_are_stored_in_a_thread(thread_hops, settings) -> None:
    request = AsyncRequestFactory().get("/notify")
    response = send(request, settings)

    assert response.status_code == 200
    assert hop_names(thread_hops) == ["MessageMiddleware.process_response"]
    stored = CookieStorage(request)._decode(response.cookies["messages"].value)
    assert [str(message) for message in stored] == ["Saved"]


def test_with_tracing_on_a_get_still_crosses_the_chain_without_a_hop(thread_hops, settings) -> None:
    with traced() as exporter:  # inserts the shop's subclass of OpenTelemetry's middleware first
        assert settings.MIDDLEWARE[0] == f"{request_spans.__name__}.TracingMiddleware"
        response = send(AsyncRequestFactory().get("/probe"), settings)

    assert response.status_code == 200
    assert thread_hops == []
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.attributes["http.route"]) == ("GET probe", "probe")


async def asgi_get(
    application: Any,
    path: str,
    *,
    leaves: asyncio.Event | None = None,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> list[dict[str, Any]]:
    """Send a request (a GET by default) through an ASGI application as a server would; return
    what it sent back.

    The client leaves (``http.disconnect``) once ``leaves`` is set, or never.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    sent: list[dict[str, Any]] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if bodies:
            return bodies.pop()
        await (leaves or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent


def call_asgi(application: Any, path: str) -> list[dict[str, Any]]:
    """:func:`asgi_get` from sync code."""
    return async_to_sync(asgi_get)(application, path)


def body_of(sent: list[dict[str, Any]]) -> bytes:
    """The body of what :func:`asgi_get` returned (one body message)."""
    assert sent[0]["status"] == 200
    return next(message["body"] for message in sent if message["type"] == "http.response.body")


@pytest.mark.django_db
def test_with_tracing_on_a_request_whose_client_leaves_ends_its_span_in_its_task(
    settings, caplog
) -> None:
    settings.ROOT_URLCONF = __name__

    async def leave_mid_request(application: Any) -> None:
        InTheView.entered = asyncio.Event()
        await asgi_get(application, "/hang", leaves=InTheView.entered)

    with traced() as exporter:  # inserts OpenTelemetry's Django middleware first
        async_to_sync(leave_mid_request)(middleware.ASGIHandler())
        gc.collect()  # a span left active would be detached now, from another context

    assert [span.name for span in exporter.get_finished_spans()] == ["GET hang"]
    assert [record.getMessage() for record in caplog.records if record.levelno >= 40] == []


@pytest.mark.django_db  # request_started closes old database connections
def test_djangos_asgi_handler_itself_hops_twice_per_request(thread_hops, settings) -> None:
    """Django sends ``request_started`` and closes the response (``request_finished``) in a
    thread: receivers such as ``close_old_connections`` are sync."""
    settings.ROOT_URLCONF = __name__

    sent = call_asgi(middleware.ASGIHandler(), "/probe")

    assert sent[0]["status"] == 200
    assert hop_names(thread_hops) == ["HttpResponseBase.close", "Signal.asend.<locals>.sync_send"]


def idle_after(threads: middleware.RequestThreads, count: int) -> None:
    """Wait until ``count`` threads are idle (each is given back from its own thread)."""
    deadline = time.monotonic() + 5
    while threads.idle != count:
        assert time.monotonic() < deadline, f"{threads.idle} idle, not {count}"
        time.sleep(0.001)


@pytest.mark.django_db
def test_requests_one_after_another_run_their_sync_code_in_one_kept_thread(settings) -> None:
    settings.ROOT_URLCONF = __name__
    application = middleware.ASGIHandler()
    seen = []
    for _ in range(3):
        idle_after(middleware.REQUEST_THREADS, middleware.REQUEST_THREADS.idle)
        seen.append(body_of(call_asgi(application, "/where")))
        idle_after(middleware.REQUEST_THREADS, max(1, middleware.REQUEST_THREADS.idle))

    assert seen[0].startswith(b"request")  # a lent thread, not asgiref's own
    assert seen == [seen[0]] * 3


@pytest.mark.django_db(transaction=True)
def test_requests_in_flight_at_once_each_have_a_thread(settings) -> None:
    settings.ROOT_URLCONF = __name__
    application = middleware.ASGIHandler()
    both_in_a_view.reset()

    async def two_at_once() -> list[list[dict[str, Any]]]:
        return list(
            await asyncio.gather(asgi_get(application, "/meet"), asgi_get(application, "/meet"))
        )

    # Each view waits for the other: in one shared thread the second would never start.
    first, second = async_to_sync(two_at_once)()

    assert body_of(first) != body_of(second)


def test_a_thread_still_running_a_call_is_not_lent_until_the_call_returns() -> None:
    threads = middleware.RequestThreads()
    first = threads.lend()
    release = threading.Event()
    first.submit(release.wait, 5)  # a call whose request was cancelled: it runs on

    threads.give_back(first)
    second = threads.lend()
    release.set()
    threads.give_back(second)
    idle_after(threads, 2)

    assert second is not first
    assert {threads.lend(), threads.lend()} == {first, second}


def test_threads_given_back_beyond_the_idle_limit_end() -> None:
    threads = middleware.RequestThreads(max_idle=1)
    kept, extra = threads.lend(), threads.lend()
    threads.give_back(kept)
    idle_after(threads, 1)

    threads.give_back(extra)
    with contextlib.suppress(RuntimeError):  # queued behind the limit's check, if not refused
        extra.submit(int).result(timeout=5)

    with pytest.raises(RuntimeError, match="shutdown"):
        extra.submit(int)
    assert threads.idle == 1
    assert threads.lend() is kept


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # the child only checks
def test_a_forked_child_lends_threads_of_its_own() -> None:
    executor = middleware.REQUEST_THREADS.lend()
    executor.submit(int).result()
    middleware.REQUEST_THREADS.give_back(executor)
    idle_after(middleware.REQUEST_THREADS, max(1, middleware.REQUEST_THREADS.idle))

    child = os.fork()
    if child == 0:  # the parent's threads do not exist here: a lent one must run calls
        code = 1
        try:
            code = middleware.REQUEST_THREADS.lend().submit(int).result(timeout=5)
        finally:
            os._exit(code)  # never back into the test session
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0


def test_csrf_in_the_session_runs_every_csrf_hook_in_a_thread(thread_hops, settings) -> None:
    settings.CSRF_USE_SESSIONS = True

    response = send(AsyncRequestFactory().get("/probe"), settings)

    assert response.status_code == 200
    assert hop_names(thread_hops) == [
        "CsrfViewMiddleware.process_request",
        "CsrfViewMiddleware.process_response",
        "CsrfViewMiddleware.process_view",
    ]


BAD_CONTENT_TYPES = ["application/json; charset*=nope''utf-8", "application/json" + "; a=b" * 2000]


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", BAD_CONTENT_TYPES, ids=["bad parameter", "too long"])
@pytest.mark.parametrize(
    ("path", "status"), [("/api/async/orders", 415), ("/api/sync/orders", 415), ("/admin/", 400)]
)
def test_a_content_type_django_cannot_parse_is_a_4xx_under_both_handlers(
    content_type: str, path: str, status: int
) -> None:
    sent = async_to_sync(asgi_get)(
        middleware.ASGIHandler(),
        path,
        method="POST",
        headers=[(b"content-type", content_type.encode())],
    )
    started: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "CONTENT_TYPE": content_type,
        "wsgi.input": io.BytesIO(),
        "wsgi.url_scheme": "http",
    }
    response = middleware.WSGIHandler()(environ, lambda status, headers: started.append(status))

    assert sent[0]["status"] == status
    assert started == [f"{status} {'Unsupported Media Type' if status == 415 else 'Bad Request'}"]
    if status == 415:
        body = json.loads(b"".join(m["body"] for m in sent if m["type"] == "http.response.body"))
        assert body["code"] == "unsupported_media_type"
        assert json.loads(b"".join(response)) == body
    response.close()
