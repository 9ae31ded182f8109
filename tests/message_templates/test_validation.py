import pytest

from message_templates import TemplateError, sample_context
from message_templates.validation import (
    parse_retargeting,
    sms_segments,
    validate_email,
    validate_push,
    validate_sms,
)

# --- SMS segment math -----------------------------------------------------------------------------


def test_160_gsm_characters_fit_one_segment():
    assert sms_segments("a" * 160) == ("GSM-7", 160, 1)


def test_161_gsm_characters_need_two_segments():
    assert sms_segments("a" * 161) == ("GSM-7", 161, 2)


def test_two_segments_hold_306_and_the_next_character_starts_a_third():
    assert sms_segments("a" * 306)[2] == 2
    assert sms_segments("a" * 307)[2] == 3


def test_euro_sign_costs_two_units():
    assert sms_segments("€") == ("GSM-7", 2, 1)
    assert sms_segments("a" * 159 + "€") == ("GSM-7", 161, 2)


def test_extension_characters_cost_two_units():
    assert sms_segments("{}[]~\\|^") == ("GSM-7", 16, 1)


def test_accented_letters_in_gsm_alphabet_stay_gsm():
    assert sms_segments("José Müller à Ñ")[0] == "GSM-7"


def test_escape_sequence_is_never_split_between_parts():
    # 152 units + a two-unit euro sign does not fit the 153-unit first part.
    encoding, units, segments = sms_segments("a" * 152 + "€" + "a" * 152)
    assert (encoding, units) == ("GSM-7", 306)
    assert segments == 3


def test_one_emoji_switches_to_ucs2_with_70_and_67_unit_limits():
    assert sms_segments("😀") == ("UCS-2", 2, 1)
    assert sms_segments("😀" + "a" * 68) == ("UCS-2", 70, 1)
    assert sms_segments("😀" + "a" * 69) == ("UCS-2", 71, 2)
    assert sms_segments("😀" + "a" * 132) == ("UCS-2", 134, 2)
    assert sms_segments("😀" + "a" * 133) == ("UCS-2", 135, 3)


def test_non_gsm_letter_switches_to_ucs2():
    assert sms_segments("Zoë") == ("UCS-2", 3, 1)


# --- SMS rules -----------------------------------------------------------------------------------


def test_sms_must_contain_opt_out():
    context = sample_context()
    with pytest.raises(TemplateError, match="opt-out"):
        validate_sms("Your cart is saved https://x.example", context)
    validate_sms("Your cart is saved https://x.example Reply STOP to opt out", context)


def test_sms_over_budget_names_segments_and_encoding():
    context = sample_context()
    text = "😀" + "a" * 150 + " Reply STOP to opt out"
    with pytest.raises(TemplateError, match="UCS-2"):
        validate_sms(text, context, max_segments=2)
    validate_sms(text, context, max_segments=3)


# --- email ---------------------------------------------------------------------------------------


def email_parts(context):
    address, unsubscribe = context["shop"]["address"], context["unsubscribe_url"]
    html = f'<p>{address}</p><a href="{unsubscribe}">Unsubscribe</a>'
    text = f"{address}\nUnsubscribe: {unsubscribe}"
    return html, text


def test_valid_email_passes():
    context = sample_context()
    validate_email("Your cart is saved", *email_parts(context), context)


def test_email_missing_unsubscribe_link_is_rejected():
    context = sample_context()
    html, text = email_parts(context)
    with pytest.raises(TemplateError, match="HTML part must contain the unsubscribe"):
        validate_email("Subject", html.replace(context["unsubscribe_url"], "#"), text, context)
    with pytest.raises(TemplateError, match="text part must contain the unsubscribe"):
        validate_email("Subject", html, text.replace(context["unsubscribe_url"], ""), context)


def test_email_missing_postal_address_is_rejected():
    context = sample_context()
    html, text = email_parts(context)
    with pytest.raises(TemplateError, match="postal address"):
        validate_email("Subject", html.replace(context["shop"]["address"], ""), text, context)


def test_email_accepts_html_escaped_unsubscribe_url():
    context = sample_context()
    context["unsubscribe_url"] = "https://shop.example/u?c=1&t=2"
    html = f'<p>{context["shop"]["address"]}</p><a href="https://shop.example/u?c=1&amp;t=2">x</a>'
    text = f"{context['shop']['address']} {context['unsubscribe_url']}"
    validate_email("Subject", html, text, context)


@pytest.mark.parametrize("subject", ["", "x" * 201])
def test_email_subject_must_be_present_and_short(subject):
    context = sample_context()
    with pytest.raises(TemplateError, match="subject"):
        validate_email(subject, *email_parts(context), context)


# --- push ----------------------------------------------------------------------------------------


def test_push_limits():
    validate_push("t" * 65, "b" * 240)
    with pytest.raises(TemplateError, match="title"):
        validate_push("t" * 66, "body")
    with pytest.raises(TemplateError, match="body"):
        validate_push("title", "b" * 241)
    with pytest.raises(TemplateError):
        validate_push("", "body")


# --- retargeting ---------------------------------------------------------------------------------


def test_retargeting_payload_parses_to_object():
    payload = parse_retargeting('{"event": "cart_abandoned", "value": 12.5, "hash": "a1b2c3d4e5f60718293a4b5c"}')
    assert payload["value"] == 12.5


@pytest.mark.parametrize("text", ["[1, 2]", '"just a string"', "{not json"])
def test_retargeting_payload_must_be_a_json_object(text):
    with pytest.raises(TemplateError, match="JSON"):
        parse_retargeting(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"audience": {"email": "ada@example.com"}}',
        '{"note": "call +1 (555) 555-0123"}',
        '{"phone": "015112345678"}',
        '{"nested": [{"x@y": 1}]}',
    ],
)
def test_retargeting_payload_rejects_raw_contact_data(text):
    with pytest.raises(TemplateError, match="must not contain"):
        parse_retargeting(text)


def test_retargeting_allows_hashes_and_timestamps():
    digest = "0123456789" * 6 + "abcd"  # hex digests can hold long digit runs
    parse_retargeting(f'{{"hashed_phone": "{digest}", "at": "2024-05-01T10:00:00+00:00"}}')
