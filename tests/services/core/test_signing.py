import base64
import hashlib
import hmac

import pytest

from services.core.signing import generic_signature_valid, shopify_hmac_valid, sign_generic, sign_shopify

SECRET = "shpss_test_secret"
BODY = b'{"token":"123123123","total_price":"421.88"}'
NOW = 1_700_000_000


def test_sign_shopify_is_base64_hmac_sha256_of_the_raw_body():
    expected = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert sign_shopify(SECRET, BODY) == expected


def test_shopify_valid_signature_is_accepted():
    assert shopify_hmac_valid(SECRET, BODY, sign_shopify(SECRET, BODY))


@pytest.mark.parametrize("header", [None, "", "   ", "not base64!", "c2hvcnQ="])
def test_shopify_missing_or_malformed_header_is_rejected(header):
    assert not shopify_hmac_valid(SECRET, BODY, header)


def test_shopify_tampered_body_is_rejected():
    header = sign_shopify(SECRET, BODY)
    assert not shopify_hmac_valid(SECRET, BODY.replace(b"421.88", b"1.00"), header)


def test_shopify_wrong_secret_is_rejected():
    assert not shopify_hmac_valid(SECRET, BODY, sign_shopify("another secret", BODY))


def test_shopify_empty_secret_never_accepts_even_a_matching_signature():
    assert not shopify_hmac_valid("", BODY, sign_shopify("", BODY))


def test_shopify_non_ascii_header_is_rejected_not_raised():
    assert not shopify_hmac_valid(SECRET, BODY, "é" * 44)


def test_generic_signature_covers_timestamp_dot_body():
    mac = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert sign_generic(SECRET, BODY, NOW) == base64.b64encode(mac).decode()


def test_generic_valid_signature_is_accepted():
    assert generic_signature_valid(SECRET, BODY, sign_generic(SECRET, BODY, NOW), str(NOW), now=NOW)


def test_generic_accepts_small_clock_skew_both_ways():
    signature = sign_generic(SECRET, BODY, NOW)
    assert generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW + 300)
    assert generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW - 300)


def test_generic_replayed_old_timestamp_is_rejected():
    signature = sign_generic(SECRET, BODY, NOW)
    assert not generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW + 301)


def test_generic_timestamp_far_in_the_future_is_rejected():
    signature = sign_generic(SECRET, BODY, NOW + 3600)
    assert not generic_signature_valid(SECRET, BODY, signature, str(NOW + 3600), now=NOW)


def test_generic_fresh_timestamp_on_an_old_signature_is_rejected():
    # The timestamp is signed: an attacker cannot refresh a captured request.
    old_signature = sign_generic(SECRET, BODY, NOW - 3600)
    assert not generic_signature_valid(SECRET, BODY, old_signature, str(NOW), now=NOW)


def test_generic_tampered_body_is_rejected():
    signature = sign_generic(SECRET, BODY, NOW)
    assert not generic_signature_valid(SECRET, BODY + b" ", signature, str(NOW), now=NOW)


def test_generic_wrong_secret_is_rejected():
    signature = sign_generic("another secret", BODY, NOW)
    assert not generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW)


def test_generic_empty_secret_is_rejected():
    assert not generic_signature_valid("", BODY, sign_generic("", BODY, NOW), str(NOW), now=NOW)


@pytest.mark.parametrize("signature", [None, "", "%%%"])
def test_generic_missing_signature_is_rejected(signature):
    assert not generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW)


@pytest.mark.parametrize("timestamp", [None, "", "abc", "-5", "1700000000.0", "+1700000000", "١٧٠٠٠٠٠٠٠٠"])
def test_generic_missing_or_malformed_timestamp_is_rejected(timestamp):
    signature = sign_generic(SECRET, BODY, NOW)
    assert not generic_signature_valid(SECRET, BODY, signature, timestamp, now=NOW)


def test_generic_default_now_is_the_current_time():
    import time

    stamp = int(time.time())
    assert generic_signature_valid(SECRET, BODY, sign_generic(SECRET, BODY, stamp), str(stamp))
    assert not generic_signature_valid(SECRET, BODY, sign_generic(SECRET, BODY, NOW), str(NOW))


def test_generic_tolerance_is_configurable():
    signature = sign_generic(SECRET, BODY, NOW)
    assert not generic_signature_valid(SECRET, BODY, signature, str(NOW), now=NOW + 61, tolerance=60)
