import logging, os, time
import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, override_settings
from django.conf import settings
from fashionistar.demo import demo_load
from fashionistar.observability.tracing import traced
from fashionistar.settings_production import SECURE_CSP

pytestmark = pytest.mark.django_db(transaction=True)
OBS = ["fashionistar.observability.middleware.RequestIdMiddleware", "fashionistar.observability.middleware.MetricsMiddleware"]
CSP = "django.middleware.csp.ContentSecurityPolicyMiddleware"

def run(middleware, n, path):
    with override_settings(MIDDLEWARE=middleware, SECURE_CSP=SECURE_CSP):
        client = AsyncClient()
        async def go():
            for _ in range(n):
                r = await client.get(path)
                assert r.status_code == 200
        async_to_sync(go)()  # warm
        t = time.process_time()
        async_to_sync(go)()
        return (time.process_time() - t) / n * 1000

def test_attrib(clean_redis):
    demo_load()
    base = [m for m in settings.MIDDLEWARE if m not in OBS and m != CSP]
    root = logging.getLogger()
    json_handlers = list(root.handlers)
    variants = {
        "off": (base, False, False),
        "+obs mw": (OBS + base, False, False),
        "+obs mw+log": (OBS + base, True, False),
        "+csp": (base[:1] + [CSP] + base[1:], False, False),
        "+tracing": (base, False, True),
    }
    out = open("/tmp/h4chk/attrib.txt", "w")
    for path in ("/api/async/catalog/products", "/api/sync/catalog/products"):
        results = {k: [] for k in variants}
        for rnd in range(3):
            for name, (mw, log, tr) in variants.items():
                if not log:
                    for h in json_handlers: root.removeHandler(h)
                try:
                    if tr:
                        with traced():
                            connection.close()
                            results[name].append(run(mw, 150, path))
                    else:
                        results[name].append(run(mw, 150, path))
                finally:
                    for h in json_handlers:
                        if h not in root.handlers: root.addHandler(h)
        print(path, {k: round(sorted(v)[1], 3) for k, v in results.items()}, os.getloadavg(), file=out, flush=True)
