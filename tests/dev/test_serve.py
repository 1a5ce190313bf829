"""``make serve`` walked as a newcomer walks it, from a clone to the pages, then stopped.

The clone sits in a folder only its owner may enter (as ``mktemp -d`` makes, or anything under
``/root``), and the command runs as this user (root on CI): PostgreSQL then runs as an
unprivileged user that cannot enter the clone. The pages a newcomer opens are looked at in a
real headless Chromium, which must render them from this machine alone. Screenshots go to
``var/screenshots/``. Last, SIGTERM reaches the command's process group (as ``timeout``, a
process manager or a closed terminal sends it) and nothing may be left running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fashionistar_dev.checkout import copy_working_tree
from fashionistar_dev.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, DEMO_PASSWORD
from fashionistar_dev.demo.load import demo_load
from fashionistar_dev.processes import free_ports
from fashionistar_dev.serve import ROOT_DATA_DIR, default_data_dir, local_secret_key
from tests.processes import child_pids, wait_for, wait_gone
from tests.site.devtools import Browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
READY_LINE = "Ctrl-C stops everything."
START_TIMEOUT_S = 420
OWN_VARIABLES = re.compile(
    r"^(DATABASE_|REDIS_|PGBOUNCER_|PAYMENT_GATEWAY_URL|DJANGO_|FASHIONISTAR_|VIRTUAL_ENV|"
    r"PROMETHEUS_MULTIPROC_DIR|COV|COVERAGE)"
)
"""This run's settings, stack and coverage: a newcomer's shell has none of them."""


@dataclass
class Served:
    """A running ``make serve`` and where to find what it made."""

    process: subprocess.Popen[bytes]
    clone: Path
    log: Path
    app: str
    docs: str
    data_dir: Path

    def output(self) -> str:
        """What the command printed so far."""
        return self.log.read_text(errors="replace")


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = child_pids(todo.pop())
        found += children
        todo += children
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    clone = Path(tempfile.mkdtemp(prefix="fashionistar-clone-"))  # mode 0700, like mktemp -d
    copy_working_tree(clone)
    app_port, docs_port, smtp_port = free_ports(3)
    log = clone.parent / f"{clone.name}.log"
    env = {name: value for name, value in os.environ.items() if not OWN_VARIABLES.match(name)}
    with open(log, "wb") as output:
        process = subprocess.Popen(
            ["make", "serve",
             f"SERVE_ARGS=--app-port {app_port} --docs-port {docs_port} --smtp-port {smtp_port}"],
            cwd=clone, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(
            lambda: process.poll() is not None or READY_LINE in log.read_text(errors="replace"),
            START_TIMEOUT_S,
        )
    except TimeoutError:
        pytest.fail(f"make serve not ready:\n{log.read_text()[-3000:]}")
    assert process.poll() is None, f"make serve exited:\n{log.read_text()[-3000:]}"
    data_line = re.search(r"^data: (\S+)", log.read_text(), re.MULTILINE)
    assert data_line, log.read_text()
    served = Served(
        process=process,
        clone=clone,
        log=log,
        app=f"http://127.0.0.1:{app_port}",
        docs=f"http://127.0.0.1:{docs_port}/",
        data_dir=Path(data_line.group(1)),
    )
    try:
        yield served
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(served.data_dir, ignore_errors=True)
        log.unlink(missing_ok=True)


def test_serve_starts_from_a_clone_only_its_owner_may_enter(served: Served) -> None:
    assert served.clone.stat().st_mode & 0o777 == 0o700
    assert "the shop:  http://127.0.0.1:" in served.output()
    postgres_data = served.data_dir / "postgres" / "PG_VERSION"
    assert postgres_data.exists()
    if os.geteuid() == 0:  # the servers run as an unprivileged user, who can reach the data
        assert served.data_dir.parent == ROOT_DATA_DIR
        assert postgres_data.parent.stat().st_uid != 0


def test_the_router_never_finds_a_server_not_listening(served: Served) -> None:
    # serve waits for each server's own port before it asks through the router, which would
    # log "connect() failed" for every probe that reached a server still starting.
    assert "connect() failed" not in served.output()


def test_the_docs_reload_when_the_theme_overrides_change(served: Served) -> None:
    watching = re.search(r"Watching paths for changes: (.+)$", served.output(), re.MULTILINE)
    assert watching, served.output()[-3000:]
    assert "'overrides'" in watching[1].split(", ")  # relative to the clone


def test_the_home_page_says_what_the_shop_is_and_where_to_go(served: Served) -> None:
    page = httpx.get(f"{served.app}/", timeout=10)
    assert page.status_code == 200
    for link in ("/api/sync/docs", "/api/async/docs", "/admin/", served.docs, "/healthz",
                 "/metrics"):  # fmt: skip
        assert f'href="{link}"' in page.text, link
    assert DEMO_ADMIN_PASSWORD in page.text
    assert DEMO_PASSWORD in page.text
    smtp_port = re.search(r"--smtp-port (\d+)", " ".join(served.process.args)).group(1)
    assert f"127.0.0.1:{smtp_port}" in page.text


def healthz_count(scrape: str) -> float:
    """The number of ``/healthz`` requests answered 200, in a Prometheus scrape."""
    return next(
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "fashionistar_http_request_duration_seconds_count"
        and sample.labels.get("route") == "healthz"
        and sample.labels.get("status") == "200"
    )


def test_one_scrape_counts_the_requests_of_both_servers_and_their_workers(
    served: Served,
) -> None:
    for _ in range(11):  # spread over both workers by the kernel
        assert httpx.get(f"{served.app}/healthz").status_code == 200
    for _ in range(3):
        assert httpx.get(f"{served.app}/api/async/catalog/products").status_code == 200
    scrape = httpx.get(f"{served.app}/metrics").text
    assert healthz_count(scrape) == 11
    async_requests = sum(
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "fashionistar_http_request_duration_seconds_count"
        and sample.labels.get("route", "").startswith("api/async/")
    )
    assert async_requests >= 3


WAIT_FOR = """
(async (expression) => {
  for (let i = 0; i < 300; i++) {
    const value = eval(expression);
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
})
"""
PAGES = {
    "home": ("/", "document.querySelector('h1')?.textContent"),
    "sync-api-docs": (
        "/api/sync/docs",
        "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent).join()",
    ),
    "async-api-docs": (
        "/api/async/docs",
        "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent).join()",
    ),
    "admin-login": ("/admin/login/", "getComputedStyle(document.body).fontFamily"),
}
EXPECTED = {
    "home": "Fashionistar",
    "sync-api-docs": "/api/sync/catalog/products",
    "async-api-docs": "/api/async/catalog/products",
    "admin-login": "sans-serif",  # the admin's stylesheet loaded; unstyled, it is the default serif
}


def look_at(browser: Browser, url: str, shown: str, name: str) -> str:
    """Open a page, wait until it shows ``shown``, screenshot it; no request may leave this host."""
    browser.set_viewport(1280, 900)
    browser.open(url)
    value = browser.evaluate(f"{WAIT_FOR}({shown!r})")
    browser.screenshot(SCREENSHOTS / f"serve-{name}.png")
    outside = [
        u for u in browser.requested_urls() if not u.startswith(("http://127.0.0.1:", "data:"))
    ]
    assert outside == [], outside
    assert browser.console_errors() == []
    return str(value)


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_a_newcomer_opens_renders_from_this_machine(
    served: Served, browser: Browser, name: str
) -> None:
    path, shown = PAGES[name]
    assert EXPECTED[name] in look_at(browser, served.app + path, shown, name)


def test_the_docs_site_renders(served: Served, browser: Browser) -> None:
    title = look_at(browser, served.docs, "document.querySelector('article h1')?.textContent",
                    "docs")  # fmt: skip
    assert title.startswith("Fashionistar Field Guide")


def test_the_published_admin_login_opens_the_admin(served: Served, browser: Browser) -> None:
    browser.open(f"{served.app}/admin/login/")
    browser.evaluate(
        f"document.querySelector('#id_username').value = {DEMO_ADMIN_USERNAME!r};"
        f"document.querySelector('#id_password').value = {DEMO_ADMIN_PASSWORD!r};"
        "document.querySelector('#login-form').submit(); 1"
    )
    browser.wait_for("Page.loadEventFired")
    heading = look_at(browser, f"{served.app}/admin/", "document.querySelector('#content h1')"
                      "?.textContent", "admin")  # fmt: skip
    assert heading == "Site administration"


def test_an_orders_mail_is_printed_where_the_home_page_says(served: Served) -> None:
    with httpx.Client(base_url=f"{served.app}/api/sync", timeout=10) as client:
        token = client.post(
            "/auth/token", json={"username": "demo", "password": DEMO_PASSWORD}
        ).json()["token"]
        products = client.get("/catalog/products").json()["results"]
        variant = next(v for p in products for v in p["variants"] if v["available"] > 0)
        order = client.post(
            "/orders",
            json={"items": [{"variant_id": variant["id"], "quantity": 1}]},
            headers={"Authorization": f"Token {token}"},
        ).json()
    subject = f"Your Fashionistar order {order['id']}"
    wait_for(lambda: subject in served.output(), 60)
    assert '"log.logger": "rq.worker"' not in served.output()  # workers log as deployed
    assert '"log.logger": "django.tasks"' not in served.output()


QUICK_START = ROOT / "docs" / "quick-start.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks_after(marker: str, language: str) -> list[str]:
    """The code blocks of the Quick start page in ``language`` that follow ``marker``."""
    text = QUICK_START.read_text()
    after = text[text.index(marker) :]
    return [body for lang, body in FENCE.findall(after) if lang == language]


def test_the_quick_start_page_shows_what_serve_prints(served: Served) -> None:
    (banner, *_) = blocks_after("<!-- the end of make serve's output", "text")
    ports = re.findall(r"--\w+-port (\d+)", " ".join(served.process.args))
    for line in banner.splitlines():
        for default, port in zip(("8000", "8001", "8025"), ports, strict=True):
            line = line.replace(default, port)
        line = line.replace("/home/you/fashionistar/.stack", str(served.data_dir))
        assert line in served.output(), line
    page = QUICK_START.read_text()
    for login in (DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD, "demo", DEMO_PASSWORD):
        assert f"`{login}`" in page


def test_the_quick_start_commands_answer(served: Served) -> None:
    listing, order = blocks_after("<!-- tests/dev/test_serve.py runs these commands", "bash")[:2]
    port = served.app.rsplit(":", 1)[1]
    for block in (listing, order):
        script = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert '"id"' in result.stdout, result.stdout


def test_sigterm_stops_everything_and_keeps_the_data(served: Served) -> None:
    everything = descendants(served.process.pid)
    assert len(everything) > 10  # make, uv, serve, the stack, the shop's workers, the docs...
    os.killpg(served.process.pid, signal.SIGTERM)
    served.process.wait(timeout=60)
    assert wait_gone(everything, timeout=60) == []
    assert (served.data_dir / "postgres" / "PG_VERSION").exists()
    assert (served.data_dir / "secret_key").exists()


def test_as_root_the_data_goes_where_the_servers_user_can_reach_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    clone = Path("/root/work/shop")
    assert default_data_dir(clone).parent == ROOT_DATA_DIR
    assert default_data_dir(clone).name.startswith("shop-")
    assert default_data_dir(clone) != default_data_dir(Path("/root/other/shop"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert default_data_dir(clone) == clone / ".stack"


def test_local_secret_key_is_made_once(tmp_path: Path) -> None:
    first = local_secret_key(tmp_path / "data")
    assert len(first) > 40
    assert local_secret_key(tmp_path / "data") == first


@pytest.mark.django_db
def test_demo_load_is_idempotent(django_user_model) -> None:
    assert demo_load() == {"users": 1, "categories": 3, "products": 6}
    assert demo_load(with_admin=True) == {"users": 1, "categories": 0, "products": 0}
    assert demo_load(with_admin=True) == {"users": 0, "categories": 0, "products": 0}
    assert django_user_model.objects.get(username=DEMO_ADMIN_USERNAME).is_superuser
