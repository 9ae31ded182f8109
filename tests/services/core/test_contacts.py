"""E-mail addresses are kept only in a form the mailer (apprise) sends to exactly that address."""

from __future__ import annotations

import pytest

from services.core.contacts import normalize_email


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("ada+shop@example.com", "ada+shop@example.com"),
        ("Ada@Bücher.de", "ada@xn--bcher-kva.de"),  # an internationalised domain, as IDNA
        ("ädä@example.com", None),  # needs SMTPUTF8, which apprise does not speak
        ("o'brien@example.ie", None),  # apprise would send it to "brien@example.ie"
        ("x@localhost", None),
        ("not an address", None),
        ("", None),
    ],
)
def test_only_addresses_the_mailer_delivers_as_written_are_kept(raw, kept):
    assert normalize_email(raw) == kept
