"""The objective's economics: send costs parsed strictly, and what each objective counts."""

import numpy as np
import pytest

from channel_models.actions import ACTIONS, action_index
from channel_models.economics import Economics, parse_send_costs


def test_send_costs_parse_known_channels_and_refuse_the_rest():
    assert parse_send_costs("email=0, sms=0.05,push=0") == {"email": 0.0, "sms": 0.05, "push": 0.0}
    assert parse_send_costs("") == {}
    for bad, why in [("fax=1", "unknown channel"), ("sms=cheap", "number"), ("sms=-1", ">= 0"), ("sms=nan", ">= 0")]:
        with pytest.raises(ValueError, match=why):
            parse_send_costs(bad)


def test_each_objective_counts_what_it_says():
    economics = Economics(discount_share=0.1, free_shipping_share=0.05, gross_margin=0.4, send_costs={"sms": 0.5})
    p = np.full((1, len(ACTIONS)), 0.2)
    sms_discount, email = action_index("sms", 1.0, "discount"), action_index("email", 1.0, None)
    revenue = economics.objective(p, np.array([100.0]), "revenue")[0]
    margin = economics.objective(p, np.array([100.0]), "margin")[0]
    assert economics.objective(p, np.array([100.0]), "recoveries")[0, email] == 0.2
    assert revenue[email] == pytest.approx(20.0) and revenue[sms_discount] == pytest.approx(18.0)
    assert margin[email] == pytest.approx(8.0)
    assert margin[sms_discount] == pytest.approx(0.2 * 100 * 0.3 - 0.5)
    realised = economics.realised(
        np.array([1.0, 0.0]), np.array([100.0, 50.0]), np.array([sms_discount, email]), "margin"
    )
    np.testing.assert_allclose(realised, [30.0 - 0.5, 0.0])


def test_economics_come_from_the_settings(tmp_path):
    from services.core.settings import Settings

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        discount_percent=15,
        free_shipping_cost=0.08,
        gross_margin=0.5,
        send_costs="sms=0.04",
    )
    assert Economics.from_settings(settings) == Economics(0.15, 0.08, 0.5, {"sms": 0.04})
    with pytest.raises(ValueError, match="unknown channel"):
        Settings(_env_file=None, data_dir=tmp_path, send_costs="pigeon=1")
