import html
import json
import time

import pytest

from message_templates import RenderedMessage, TemplateError, TemplateRenderer, sample_context

CHANNELS = ("email", "sms", "push", "retargeting")
REASONS = ("shipping_cost", "price", "indecision", "technical", "other")
INCENTIVES = (None, "free_shipping", "discount")


@pytest.fixture(scope="module")
def renderer():
    return TemplateRenderer()


def texts(message: RenderedMessage) -> list[str]:
    """Everything a recipient could read, for 'appears / never appears' checks."""
    parts = [message.subject, message.html, message.text]
    if message.payload is not None:
        parts.append(json.dumps(message.payload))
    return [part for part in parts if part]


# --- every channel x reason renders and passes its channel checks -----------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("incentive", INCENTIVES)
@pytest.mark.parametrize("first_name", ["Ada", None])
def test_every_channel_and_reason_renders(renderer, channel, reason, incentive, first_name):
    for touch in (1, 3):
        context = sample_context(reason, incentive, first_name, touch=touch)
        message = renderer.render(channel, reason, context)

        assert message.channel == channel
        assert message.template == f"{channel}/{reason}"
        for part in texts(message):
            assert "None" not in part  # a missing name or support URL never prints as "None"
        if channel == "email":
            assert message.subject
            assert message.html
            assert message.text
            assert message.payload is None
        elif channel == "sms":
            assert message.text.endswith(context["sms_opt_out"])
            assert "Acme Outfitters" in message.text
            assert message.subject is None
        elif channel == "push":
            assert message.subject
            assert message.text
            assert message.html is None
        else:
            assert message.payload["reason"] == reason
            assert message.text is None


@pytest.mark.parametrize("channel", ["email", "sms", "push"])
@pytest.mark.parametrize("reason", REASONS)
def test_incentive_appears_only_when_granted(renderer, channel, reason):
    for kind, code in (("free_shipping", "SHIPFREE"), ("discount", "COMEBACK10")):
        granted = renderer.render(channel, reason, sample_context(reason, kind))
        assert all_contain(granted, code, channel)
        plain = renderer.render(channel, reason, sample_context(reason, None))
        for part in texts(plain):
            assert code not in part
            assert "% off" not in part
            assert "code" not in part.lower()


def all_contain(message: RenderedMessage, needle: str, channel: str) -> bool:
    if channel == "email":
        return needle in message.html and needle in message.text
    return needle in message.text


def test_discount_shows_percent_and_free_shipping_says_free(renderer):
    price = renderer.render("email", "price", sample_context("price", "discount"))
    assert "10% off" in price.text
    assert "10% off" in price.html
    assert "10% off" in price.subject
    shipping = renderer.render("email", "shipping_cost", sample_context("shipping_cost", "free_shipping"))
    assert "free" in shipping.text.lower()
    assert "Free shipping" in shipping.subject


def test_shipping_reason_without_incentive_explains_shipping_honestly(renderer):
    message = renderer.render("email", "shipping_cost", sample_context("shipping_cost"))
    assert "Shipping depends on your address" in message.text
    assert "option" in message.text
    assert "before you pay" in message.text
    assert "free" not in message.text.lower()


def test_technical_email_links_support_or_falls_back_to_recovery_url(renderer):
    context = sample_context("technical")
    message = renderer.render("email", "technical", context)
    assert context["shop"]["support_url"] in message.html
    assert context["shop"]["support_url"] in message.text

    context["shop"]["support_url"] = None
    message = renderer.render("email", "technical", context)
    assert "None" not in message.html
    assert "None" not in message.text
    assert message.text.count(context["cart"]["recovery_url"]) >= 2


def test_email_lists_items_total_and_recovery_link(renderer):
    context = sample_context("other", items=3)
    message = renderer.render("email", "other", context)
    url = context["cart"]["recovery_url"]
    assert f'href="{html.escape(url)}"' in message.html  # the button
    assert url in message.text
    for item in context["cart"]["items"]:
        for part in (message.html, message.text):
            assert item["title"] in part
            assert item["line_total"] in part
            if item["variant_title"]:
                assert item["variant_title"] in part
        assert f"Qty {item['quantity']}" in message.html
        assert f"x {item['quantity']}" in message.text
    assert f"Total: {context['cart']['total']} USD" in message.text
    assert context["cart"]["total"] in message.html


def test_sms_includes_shop_name_and_recovery_url(renderer):
    context = sample_context("price")
    message = renderer.render("sms", "price", context)
    assert message.text.startswith("Acme Outfitters:")
    assert context["cart"]["recovery_url"] in message.text


def test_greeting_uses_first_name_and_touch_varies_copy(renderer):
    first = renderer.render("email", "other", sample_context("other", first_name="Grace"))
    assert first.text.startswith("Hi Grace,")
    assert "Grace" in first.html
    anonymous = renderer.render("email", "other", sample_context("other", first_name=None))
    assert anonymous.text.startswith("Hi there,")
    later = renderer.render("email", "other", sample_context("other", touch=2))
    assert "Still thinking it over?" in later.text
    assert "Still thinking it over?" not in first.text


def test_sms_drops_a_greeting_that_would_force_ucs2(renderer):
    message = renderer.render("sms", "other", sample_context("other", first_name="Zoë"))
    assert "Zoë" not in message.text


def test_unknown_reason_falls_back_to_other(renderer):
    message = renderer.render("email", "gift_shopping", sample_context("gift_shopping"))
    assert message.template == "email/other"


def test_unknown_channel_is_a_programming_error(renderer):
    with pytest.raises(ValueError):
        renderer.render("fax", "other", sample_context("other"))


def test_retargeting_payload_has_no_raw_contact_data(renderer):
    context = sample_context("price", "discount")
    payload = renderer.render("retargeting", "price", context).payload
    assert payload["event"] == "cart_abandoned"
    assert payload["currency"] == "USD"
    assert payload["item_count"] == context["cart"]["item_count"]
    assert payload["audience"] == context["audience"]
    assert "COMEBACK10" not in repr(payload)  # the code is for the customer, not the ad platform


# --- merge fields are data ----------------------------------------------------------------------


def test_script_in_product_title_is_escaped_in_html(renderer):
    context = sample_context("other")
    context["cart"]["items"][0]["title"] = '<script>alert("x")</script>'
    message = renderer.render("email", "other", context)
    assert "<script>" not in message.html
    assert "&lt;script&gt;" in message.html


@pytest.mark.parametrize("channel", CHANNELS)
def test_template_syntax_in_first_name_stays_literal(renderer, channel):
    context = sample_context("other", first_name="{{ 7*7 }}", items=1)
    message = renderer.render(channel, "other", context)
    if channel == "email":
        assert "Hi {{ 7*7 }}," in message.text
        assert "{{ 7*7 }}" in message.html
    if channel == "sms":  # gsm7 but long-ish names are still greeted literally
        assert "{{ 7*7 }}" in message.text
    for part in (message.subject, message.html, message.text):
        assert "49" not in (part or "")


def test_header_injection_in_name_is_flattened_in_subject(renderer):
    context = sample_context("other", first_name="Ada\r\nBcc: victim@example.com")
    subject = renderer.render("email", "other", context).subject
    assert "\n" not in subject
    assert "\r" not in subject


# --- editor-supplied sources ---------------------------------------------------------------------


def sms_source(body: str) -> dict[str, str]:
    return {"sms/other.txt": body + " {{ sms_opt_out }}"}


def test_render_source_uses_given_template(renderer):
    message = renderer.render_source("sms", sms_source("Hello {{ customer.first_name }}"), sample_context("other"))
    assert message.text == "Hello Ada Reply STOP to opt out"
    assert message.template == "sms/other"


def test_render_source_can_extend_the_default_layout(renderer):
    sources = {"email/price.txt": '{% extends "email/base.txt" %}{% block intro %}Custom intro.{% endblock %}'}
    message = renderer.render_source("email", sources, sample_context("price"))
    assert "Custom intro." in message.text
    assert "Unsubscribe:" in message.text


def test_render_source_refuses_sources_that_would_not_be_used(renderer):
    with pytest.raises(TemplateError, match="none of the given templates"):
        renderer.render_source("sms", sms_source("Hi"), sample_context("price"))


def test_render_source_does_not_leak_into_later_renders(renderer):
    renderer.render_source("sms", sms_source("EDITED"), sample_context("other"))
    assert "EDITED" not in renderer.render("sms", "other", sample_context("other")).text


def test_syntax_error_reports_line_number(renderer):
    source = "line one\nline two\n{% if customer.first_name %}\nunclosed"
    with pytest.raises(TemplateError) as caught:
        renderer.render_source("sms", {"sms/other.txt": source}, sample_context("other"))
    assert caught.value.line == 4
    assert caught.value.template == "sms/other.txt"
    assert "syntax" in caught.value.message


def test_undefined_variable_is_named(renderer):
    with pytest.raises(TemplateError) as caught:
        renderer.render_source("sms", sms_source("first\n{{ customer.nickname }}"), sample_context("other"))
    assert "nickname" in str(caught.value)
    assert caught.value.line == 2

    with pytest.raises(TemplateError, match="coupon"):
        renderer.render_source("sms", sms_source("{{ coupon }}"), sample_context("other"))


def test_email_without_unsubscribe_link_is_rejected(renderer):
    sources = {"email/other.txt": "Hi {{ customer.first_name }}\n{{ shop.address }}"}
    with pytest.raises(TemplateError, match="unsubscribe") as caught:
        renderer.render_source("email", sources, sample_context("other"))
    assert caught.value.template == "email/other"


def test_sms_over_segment_budget_is_rejected():
    tight = TemplateRenderer(sms_max_segments=1)
    with pytest.raises(TemplateError, match="segments"):
        tight.render("sms", "shipping_cost", sample_context("shipping_cost"))


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ 'a'|attr('__class__') }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ 'x'.format }}",
        "{{ range(10**9)|list }}",
        "{{ 'x' * 10**9 }}",
        "{{ ['x'] * 10**9 }}",
        "{{ 2 ** (10 ** 9) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ '%999999999s'|format(1) }}",
        "{{ ('x' * 100000)|replace('', 'yy') }}",
        "{% macro loop_forever(n) %}{{ loop_forever(n) }}{% endmacro %}{{ loop_forever(1) }}",
        "{% include 'sms/other.txt' %}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = [ns.s, ns.s]|join %}{% endfor %}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ cart.recovery_url }}{% endfor %}{% endfor %}",
    ],
)
def test_sandbox_escapes_and_resource_abuse_fail_fast(renderer, source):
    started = time.monotonic()
    with pytest.raises(TemplateError):
        renderer.render_source("sms", sms_source(source), sample_context("other"))
    assert time.monotonic() - started < 3
