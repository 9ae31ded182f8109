"""Every activity a workflow calls (workflows/contracts.py) is implemented under the same name and
registered by the worker."""

import inspect

from temporalio import activity

from activities.planning import PlanningActivities
from activities.recording import RecordingActivities
from activities.sending import SendingActivities
from activities.training import TrainingActivities
from workflows import contracts

IMPLEMENTATIONS = (PlanningActivities, RecordingActivities, SendingActivities, TrainingActivities)


def activity_names(cls: type) -> set[str]:
    names = set()
    for _, method in inspect.getmembers(cls, inspect.isfunction):
        definition = getattr(method, "__temporal_activity_definition", None)
        if definition is not None:
            names.add(definition.name)
    return names


def contract_classes() -> list[type]:
    return [cls for _, cls in inspect.getmembers(contracts, inspect.isclass) if cls.__module__ == contracts.__name__]


def test_each_contract_has_one_implementation_with_the_same_activity_names():
    for contract in contract_classes():
        [implementation] = [cls for cls in IMPLEMENTATIONS if issubclass(cls, contract)]
        assert activity_names(implementation) == activity_names(contract), contract.__name__
        for name in activity_names(contract):
            assert getattr(implementation, name) is not getattr(contract, name), f"{name} is not implemented"


def test_the_worker_registers_every_contract_activity(tmp_path, sqlite_engine, monkeypatch):
    from types import SimpleNamespace

    from services.core.settings import Settings
    from services.entrypoints import worker

    registered: list[str] = []

    class RecordingWorker:
        def __init__(self, client, **options):
            registered.extend(activity._Definition.must_from_callable(fn).name for fn in options["activities"])

    settings = Settings(_env_file=None, data_dir=tmp_path, webhook_secret="s")
    monkeypatch.setattr(worker, "Worker", RecordingWorker)
    worker.build_worker(SimpleNamespace(), settings, sqlite_engine)
    expected = set().union(*(activity_names(contract) for contract in contract_classes()))
    assert sorted(registered) == sorted(expected)
