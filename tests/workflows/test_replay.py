"""Histories recorded by earlier versions must replay on the current workflow code: a change that
breaks this needs `workflow.patched(...)` (temporalio samples-python `replay/`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.cart_recovery import CartRecoveryWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path):
    history = WorkflowHistory.from_json("recorded", path.read_text())
    await Replayer(workflows=[CartRecoveryWorkflow]).replay_workflow(history)


def test_there_are_histories_to_replay():
    assert HISTORIES, "record at least one history into tests/workflows/histories"
