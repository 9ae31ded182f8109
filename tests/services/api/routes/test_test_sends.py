"""The editor's test send messages any address, so each key may send TEST_SENDS_PER_HOUR an hour."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from services.api.routes import templates
from services.store.tables import EditorTestSend
from tests.utils.template_api import auth, make_key, template_id


async def send(api, tid: int, headers: dict):
    return await api.post(f"/v1/templates/{tid}/test-send", headers=headers, json={"to": "me@example.com"})


async def test_a_key_may_send_so_many_test_messages_an_hour(api):
    tid = await template_id(api, "email", "price")
    answers = [(await send(api, tid, auth(api))).status_code for _ in range(templates.TEST_SENDS_PER_HOUR + 2)]
    assert answers == [200] * templates.TEST_SENDS_PER_HOUR + [429, 429]
    refused = await send(api, tid, auth(api))
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    assert f"at most {templates.TEST_SENDS_PER_HOUR} test messages an hour" in refused.json()["detail"]
    assert len(api.app.state.test_delivery.sent) == templates.TEST_SENDS_PER_HOUR  # nothing more went out

    other_editor = {"Authorization": f"Bearer {make_key(api.engine, 'editor')}"}
    assert (await send(api, tid, other_editor)).status_code == 200  # the limit is per key


async def test_an_hour_later_the_key_may_send_again(api):
    tid = await template_id(api, "email", "price")
    for _ in range(templates.TEST_SENDS_PER_HOUR):
        assert (await send(api, tid, auth(api))).status_code == 200
    assert (await send(api, tid, auth(api))).status_code == 429
    with Session(api.engine) as session:  # an hour passes
        for row in session.exec(select(EditorTestSend)):
            row.sent_at = row.sent_at - timedelta(hours=1, seconds=1)
            session.add(row)
        session.commit()
    assert (await send(api, tid, auth(api))).status_code == 200
