"""Server-side template injection: a corpus of what an attacker with editor access would try.

Every entry must be rejected (TemplateError) or bounded, quickly, both through the renderer
(`render_source`, what a send or a preview runs) and through the save API (422, nothing stored,
the active version unchanged). The CVE entries pin the jinja2 fixes the sandbox relies on: the
suite fails on a jinja2 older than 3.1.6.
"""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import httpx
import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from packaging.version import Version
from sqlmodel import Session

from message_templates import TemplateError, TemplateRenderer, sample_context
from services.api.app import create_app
from services.core.settings import Settings
from services.messaging.templates_store import active_version
from services.store.api_keys import create_key

# CVE-2025-27516 (fixed in 3.1.6): |attr fetched str.format around the sandbox's format check.
CVE_2025_27516 = '{{ ("{0.__class__.__mro__}"|attr("format"))(1) }}'
# CVE-2024-56326 (fixed in 3.1.5): a stored reference to str.format, called indirectly.
CVE_2024_56326 = '{% set f = "{0.__class__.__mro__}".format %}{{ f(1) }}'

CORPUS = {
    # attribute walks to interpreter internals
    "globals via cycler": "{{ cycler.__init__.__globals__.os }}",
    "globals via joiner": "{{ joiner.__init__.__globals__['os'].popen('id').read() }}",
    "globals via namespace": "{{ namespace.__init__.__globals__ }}",
    "globals via range": "{{ range.__globals__ }}",
    "globals via self": "{{ self.__init__.__globals__ }}",
    "template context": "{{ self._TemplateReference__context }}",
    "mro subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "base subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "class of context data": "{{ cart.items[0].__class__ }}",
    "dunder via subscript": "{{ cart['__class__'] }}",
    "func code": "{{ cycler.__init__.__code__.co_consts }}",
    "builtins via getattr chain": "{{ (cart|attr('__class__')).__base__ }}",
    "lipsum globals": "{{ lipsum.__globals__ }}",
    "settings object": "{{ config.SECRET_KEY }}",
    "request object": "{{ request.environ }}",
    # str.format tricks
    "str.format attribute": '{{ "{0.__class__}".format(cart) }}',
    "str.format_map": '{{ "{x.__class__}".format_map({"x": cart}) }}',
    "format via subscript": '{{ ""["format"] }}',
    "format on a merge field": "{{ shop.name.format }}",
    "stored format reference (CVE-2024-56326)": CVE_2024_56326,
    # |attr
    "attr dunder": "{{ cart|attr('__class__') }}",
    "attr chain to globals": "{{ cycler|attr('__init__')|attr('__globals__') }}",
    "attr format (CVE-2025-27516)": CVE_2025_27516,
    "attr format_map": '{{ ("{0.__class__}"|attr("format_map"))({"0": 1}) }}',
    # mutating what the template was given
    "mutate context list": "{{ cart.items.append(1) }}",
    "mutate context dict": "{{ shop.update({'name': 'x'}) }}",
    "clear context list": "{{ cart.items.clear() }}",
    # files outside the template set
    "include system file": "{% include '/etc/passwd' %}",
    "include parent path": "{% include '../../services/settings.py' %}",
    "import parent path": "{% import '../settings.py' as s %}",
    # resource exhaustion
    "huge range": "{{ range(10**9)|list }}",
    "huge range length": "{{ range(999999999)|length }}",
    "huge string multiplication": "{{ 'x' * 10**9 }}",
    "chained multiplication": "{{ 'x' * 100000 * 100000 }}",
    "huge list multiplication": "{{ ['x'] * 10**9 }}",
    "huge power": "{{ 2 ** (10 ** 9) }}",
    "huge padding": "{{ 'x'|center(10**9) }}",
    "huge percent width": "{{ '%999999999s'|format(1) }}",
    "string doubling loop": "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "nested loops": "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
    "recursive macro": "{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}",
    "mutually recursive macros": "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}",
    "self include": "{% include 'sms/price.txt' %}",
}

FAST = 4.0  # seconds per rejection: the render budget is 2 s, plus headroom for a loaded CI machine


def test_jinja2_has_the_sandbox_fixes_this_corpus_relies_on():
    assert Version(jinja2.__version__) >= Version("3.1.6"), f"jinja2 {jinja2.__version__} has known sandbox escapes"


@pytest.mark.parametrize("source", [CVE_2025_27516, CVE_2024_56326], ids=["CVE-2025-27516", "CVE-2024-56326"])
def test_stock_jinja2_sandbox_blocks_the_format_escapes(source):
    """Without our own guards: only jinja2 >= 3.1.6 blocks the |attr one (3.1.5 prints the MRO)."""
    with pytest.raises(SecurityError):
        ImmutableSandboxedEnvironment().from_string(source).render()


def sms_source(payload: str) -> dict[str, str]:
    # Valid around the payload: if the payload rendered to nothing, the template would be accepted.
    return {"sms/price.txt": "{{ shop.name }}: " + payload + " {{ cart.recovery_url }} {{ sms_opt_out }}"}


@pytest.mark.parametrize("payload", CORPUS.values(), ids=CORPUS.keys())
def test_render_source_rejects_or_bounds_it_fast(payload):
    renderer = TemplateRenderer()
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        renderer.render_source("sms", sms_source(payload), sample_context("price"))
    assert time.monotonic() - started < FAST
    assert "<class" not in str(raised.value)
    assert "<module" not in str(raised.value)  # nothing leaks in the message


def test_the_wrapper_alone_is_a_valid_template():
    message = TemplateRenderer().render_source("sms", sms_source("hello"), sample_context("price"))
    assert message.text.startswith("Acme Outfitters: hello https://")


@pytest.fixture(scope="module")
async def editor_api(tmp_path_factory):
    from services.store.db import make_engine

    tmp = tmp_path_factory.mktemp("corpus")
    engine = make_engine(f"sqlite:///{tmp / 'app.db'}")
    settings = Settings(
        _env_file=None,
        data_dir=tmp,
        webhook_secret="generic-secret",
        admin_api_key="admin-key-0123456789",
        task_queue=f"corpus-{uuid.uuid4().hex[:8]}",
    )
    with Session(engine) as session:
        _, key = create_key(session, "attacker", "editor", created_by="test")
        session.commit()
    app = create_app(settings, engine=engine, client=SimpleNamespace())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            client.engine = engine
            yield client
    engine.dispose()


@pytest.mark.parametrize("payload", CORPUS.values(), ids=CORPUS.keys())
async def test_save_api_rejects_it_and_stores_nothing(editor_api, payload):
    started = time.monotonic()
    response = await editor_api.post(
        "/v1/templates", json={"channel": "sms", "reason": "price", "sources": sms_source(payload)}
    )
    assert time.monotonic() - started < FAST
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"][:1]
    assert problem["file"].startswith("sms/")
    assert problem["message"]
    with Session(editor_api.engine) as session:
        assert active_version(session, "sms", "price").version == 1
