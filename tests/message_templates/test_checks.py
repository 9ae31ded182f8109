"""The checks a template must pass before it may become active (message_templates/checks.py)."""

from __future__ import annotations

import pytest

from channel_models.vocabulary import CHANNELS, REASONS
from message_templates import TemplateRenderer
from message_templates.checks import check_sources, worst_case_samples
from services.messaging.templates_store import packaged_sources


@pytest.fixture(scope="module")
def renderer():
    return TemplateRenderer()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("reason", REASONS)
def test_every_packaged_default_passes_its_own_checks(renderer, channel, reason):
    assert check_sources(renderer, channel, reason, packaged_sources(channel, reason)) == []


def test_the_other_template_is_checked_for_every_reason_it_stands_in_for():
    assert {s.reason for s in worst_case_samples("other")} == set(REASONS)
    assert {s.reason for s in worst_case_samples("price")} == {"price"}
    samples = list(worst_case_samples("price"))
    assert {s.incentive for s in samples} == {None, "free_shipping", "discount"}
    assert {s.returning for s in samples} == {False, True}
    assert None in {s.first_name for s in samples}


def test_other_template_that_only_works_for_its_own_reason_is_rejected(renderer):
    # Fine while reason is "other", broken for the reasons it also serves.
    source = "{% if reason == 'other' %}{{ shop.name }}{% else %}{{ shop.missing }}{% endif %} {{ sms_opt_out }}"
    [problem] = check_sources(renderer, "sms", "other", {"sms/other.txt": source})
    assert "missing" in problem.message
    assert "reason shipping_cost" in problem.message


def test_tighter_segment_budget_rejects_the_longest_default(renderer):
    tight = TemplateRenderer(sms_max_segments=1)
    [problem] = check_sources(tight, "sms", "price", packaged_sources("sms", "price"))
    assert "budget is 1" in problem.message


def test_the_worst_case_names_are_as_long_as_a_message_shows_in_either_sms_alphabet():
    from message_templates.context_limits import LONGEST_NAME, LONGEST_UCS2_NAME, MAX_NAME_CHARS, name_for_message
    from message_templates.validation import is_gsm7

    assert len(LONGEST_NAME) == len(LONGEST_UCS2_NAME) == MAX_NAME_CHARS
    assert is_gsm7(LONGEST_NAME) and not is_gsm7(LONGEST_UCS2_NAME)
    assert name_for_message(LONGEST_UCS2_NAME) == LONGEST_UCS2_NAME
    assert name_for_message(LONGEST_NAME + "x") is None
