"""`cartrecovery retrain`: start RetrainWorkflow through Temporal, as `POST /v1/models/retrain`
does, and follow its `progress` query with a progress bar until it ends."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from temporalio.client import Client

from services.core.settings import Settings
from services.model_ops.retraining import RetrainAlreadyRunning, Retraining, RetrainState, cli_address

POLL_S = 0.5
CONNECT_TIMEOUT_S = 10


async def run_retrain(settings: Settings, console: Console, *, wait: bool = True, poll_s: float = POLL_S) -> int:
    """The command's exit code: 0 when the run completed (or was started with wait=False)."""
    address = cli_address(settings)
    try:
        client = await asyncio.wait_for(
            Client.connect(address, namespace=settings.temporal_namespace), CONNECT_TIMEOUT_S
        )
    except (TimeoutError, RuntimeError, ConnectionError) as err:
        console.print(
            f"[red]cannot reach Temporal at {address}: {err or type(err).__name__}[/red] (is the service running?)"
        )
        return 1
    retraining = Retraining(client, settings)
    try:
        workflow_id = await retraining.start("manual", "cli")
    except RetrainAlreadyRunning as running:
        console.print(f"[yellow]{running}[/yellow]", highlight=False, soft_wrap=True)
        return 1
    console.print(f"started retraining {workflow_id}", highlight=False, soft_wrap=True)
    if not wait:
        return 0
    state = await follow(retraining, workflow_id, console, poll_s)
    print_outcome(state, console)
    return 0 if state.status == "completed" else 1


async def follow(retraining: Retraining, workflow_id: str, console: Console, poll_s: float = POLL_S) -> RetrainState:
    columns = (TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("waiting for a worker", total=None)
        while True:
            state = await retraining.state(workflow_id)
            if state.progress is not None:
                p = state.progress
                bar.update(task, description=p.step, completed=p.done, total=max(p.total, 1))
            if state.status != "running":
                total = bar.tasks[0].total or 1
                bar.update(
                    task,
                    description=state.status,
                    completed=total if state.status == "completed" else bar.tasks[0].completed,
                    total=total,
                )
                return state
            await asyncio.sleep(poll_s)


def print_outcome(state: RetrainState, console: Console) -> None:
    if state.result is None:
        console.print(f"[red]retraining {state.workflow_id} ended: {state.status}[/red]", highlight=False)
        return
    rows = f" ({state.result.rows:,} logged decisions)" if state.result.status == "completed" else ""
    table = Table(title=f"Retraining {state.result.status}{rows}")
    for column in ("model", "outcome", "version", "why"):
        table.add_column(column)
    for o in state.result.outcomes:
        colour = {"promoted": "green", "rejected": "yellow", "failed": "red"}.get(o.outcome, "")
        outcome = f"[{colour}]{o.outcome}[/{colour}]" if colour else o.outcome
        table.add_row(o.kind, outcome, f"v{o.version}" if o.version else "-", o.why)
    console.print(table)
    if state.result.open_decisions:
        console.print(
            f"{state.result.open_decisions:,} decisions of carts whose attribution window is still open (or whose "
            "outcome is not recorded yet): partial outcomes for the policy's reward model, never judged on",
            highlight=False,
        )
