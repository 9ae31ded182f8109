"""`cartrecovery up | api | worker | simulate | status | retrain | report | keys`."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.core.logs import configure_logging
from services.core.settings import ConfigurationError, Settings

app = typer.Typer(help="Abandoned-cart recovery on Temporal.", no_args_is_help=True, add_completion=False)
console = Console()
keys_app = typer.Typer(help="API keys for the /v1 API and the web pages.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _settings(serving: bool = True) -> Settings:
    settings = Settings()
    if serving:
        try:
            settings.check_for_serving()
        except ConfigurationError as err:
            console.print(f"[red]configuration error:[/red] {err}")
            raise typer.Exit(2) from None
    return settings


@app.command()
def up() -> None:
    """Run everything on this machine: the embedded Temporal dev server (unless CR_TEMPORAL_ADDRESS is
    set), the worker and the HTTP API."""
    from services.entrypoints.runtime import embedded_temporal
    from services.entrypoints.supervisor import Supervisor

    settings = _settings()
    configure_logging()
    try:
        with contextlib.ExitStack() as stack:
            address = settings.temporal_address or stack.enter_context(embedded_temporal(settings))
            if not settings.temporal_address:
                console.print(f"Temporal dev server on {address} (Web UI http://127.0.0.1:{settings.temporal_ui_port})")
            console.print(
                f"API on http://{settings.api_host}:{settings.api_port} (docs at /docs): "
                f"{settings.api_processes} API and {settings.worker_processes} worker process(es)"
            )
            status = Supervisor(settings, address).run()
    except ConfigurationError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # Ctrl-C while the embedded server was starting
        return
    if status:
        raise typer.Exit(status)


@app.command()
def api() -> None:
    """Run only the HTTP API (needs CR_TEMPORAL_ADDRESS)."""
    from services.entrypoints.runtime import serve

    settings = _settings()
    _require_address(settings)
    configure_logging()
    asyncio.run(serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """Run only a worker (needs CR_TEMPORAL_ADDRESS)."""
    from services.entrypoints.runtime import serve

    settings = _settings(serving=False)
    _require_address(settings)
    configure_logging()
    try:
        asyncio.run(serve(settings, api=False, worker=True))
    except ConfigurationError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None


@app.command()
def simulate(
    carts: int = typer.Option(50, min=1, max=100_000, help="how many synthetic carts"),
    url: str = typer.Option("", help="service base URL (default: CR_PUBLIC_URL)"),
    seed: int = typer.Option(7, help="random seed"),
    shop: str = typer.Option("demo-shop", help="shop name the carts belong to"),
) -> None:
    """Fire realistic synthetic webhooks (carts, behaviour, orders) at a running service."""
    from services.entrypoints.simulate import run_simulation

    settings = _settings(serving=False)
    if not settings.webhook_secret:
        console.print("[red]set CR_WEBHOOK_SECRET (the same value the service uses) to sign the webhooks[/red]")
        raise typer.Exit(2)
    summary = asyncio.run(run_simulation(settings, url or settings.public_url, carts, seed, shop, console))
    console.print(summary)


@app.command()
def status(url: str = typer.Option("", help="service base URL (default: CR_PUBLIC_URL)")) -> None:
    """Health of the running service, each model's status, and what the journeys are doing."""
    from services.entrypoints.status import journey_counts, model_lines, send_lines

    settings = _settings(serving=False)
    base = (url or settings.public_url).rstrip("/")
    try:
        health = httpx.get(f"{base}/healthz", timeout=5).json()
    except httpx.HTTPError as err:
        health = {"status": f"unreachable ({type(err).__name__})"}
    console.print(f"service {base}: {health}")
    for kind, line in model_lines(settings):
        console.print(f"model {kind}: {line}", highlight=False, soft_wrap=True)
    for line in send_lines(settings):
        console.print(f"sends: {line}", highlight=False, soft_wrap=True)
    counts = journey_counts(settings)
    for title, rows in counts.items():
        table = Table(title=title)
        table.add_column("")
        table.add_column("count", justify="right")
        for name, value in rows:
            table.add_row(str(name), str(value))
        console.print(table)


@app.command()
def retrain(
    no_wait: bool = typer.Option(False, "--no-wait", help="start the retraining and return at once"),
) -> None:
    """Retrain the models now (RetrainWorkflow through Temporal), with a progress bar until it ends."""
    from services.entrypoints.retrain_command import run_retrain

    settings = _settings(serving=False)
    raise typer.Exit(asyncio.run(run_retrain(settings, console, wait=not no_wait)))


@app.command()
def report(
    shop: str = typer.Option("", help="one shop (default: all shops)"),
    since: str = typer.Option("", help="carts abandoned at or after this date or time (ISO 8601, UTC)"),
    until: str = typer.Option("", help="carts abandoned before this date or time (ISO 8601, UTC; exclusive)"),
) -> None:
    """The recovery report's headline, read from the application database."""
    from sqlmodel import Session

    from channel_models.economics import Economics
    from services.core.clock import utc
    from services.reports import recovery_report
    from services.reports.headline import headline_rows
    from services.store.db import make_engine

    try:
        start, end = (utc(datetime.fromisoformat(v)) if v else None for v in (since, until))
    except ValueError as err:
        console.print(f"[red]--since / --until must be ISO 8601 dates or times (2024-05-01): {err}[/red]")
        raise typer.Exit(2) from None
    if start and end and start >= end:
        console.print("[red]--since must be before --until[/red]")
        raise typer.Exit(2)
    settings = _settings(serving=False)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        data = recovery_report(session, shop or None, start, end, Economics.from_settings(settings).incentive_costs())
    engine.dispose()
    period = f"{since or 'the start'} to {until or 'now'}" if since or until else "all time"
    table = Table(title=f"Recovery report: {shop or 'all shops'}, {period}")
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in headline_rows(data):
        table.add_row(label, value)
    console.print(table)


@keys_app.command("create")
def keys_create(
    name: str = typer.Option(..., help="who or what uses the key"),
    role: str = typer.Option(..., help="viewer, editor or admin"),
) -> None:
    """Create a key and print it: it is shown only this once (the database keeps a hash)."""
    from sqlmodel import Session

    from services.store.api_keys import ROLES, create_key
    from services.store.db import make_engine

    if role not in ROLES or not name.strip():
        console.print(f"[red]--role must be one of {', '.join(ROLES)} and --name must not be empty[/red]")
        raise typer.Exit(2)
    with Session(make_engine(_settings(serving=False).database_url)) as session:
        row, key = create_key(session, name.strip(), role, created_by="cli")
        session.commit()
        console.print(
            f"created key {row.id} ({row.name}, {row.role}); store it now, it is not shown again:", highlight=False
        )
    print(key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key: id, name, role, prefix, created, last used, revoked (never the secret)."""
    from sqlmodel import Session

    from services.store.api_keys import list_keys
    from services.store.db import make_engine

    table = Table(title="API keys")
    for column in ("id", "name", "role", "prefix", "created", "by", "last used", "revoked"):
        table.add_column(column)
    with Session(make_engine(_settings(serving=False).database_url)) as session:
        for row in list_keys(session):
            table.add_row(
                str(row.id),
                row.name,
                row.role,
                f"cr_{row.prefix}",
                _when(row.created_at),
                row.created_by,
                _when(row.last_used_at),
                _when(row.revoked_at),
            )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="the id shown by `keys list`")) -> None:
    """Revoke a key at once, and every browser session signed in with it."""
    from sqlmodel import Session

    from services.store.api_keys import revoke_key
    from services.store.db import make_engine

    with Session(make_engine(_settings(serving=False).database_url)) as session:
        row = revoke_key(session, key_id)
        name = row.name if row is not None else None
        session.commit()
    if name is None:
        console.print(f"[red]no API key with id {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked key {key_id} ({name}) and ended its browser sessions")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _require_address(settings: Settings) -> None:
    if not settings.temporal_address:
        console.print(
            "[red]set CR_TEMPORAL_ADDRESS (host:port of the Temporal frontend), or use `cartrecovery up`[/red]"
        )
        raise typer.Exit(2)
