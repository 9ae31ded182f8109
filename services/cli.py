"""`cartrecovery up | api | worker | simulate | status`."""

from __future__ import annotations

import asyncio
import logging

import httpx
import typer
from rich.console import Console
from rich.table import Table

from services.settings import ConfigurationError, Settings

app = typer.Typer(help="Abandoned-cart recovery on Temporal.", no_args_is_help=True, add_completion=False)
console = Console()


def _settings(serving: bool = True) -> Settings:
    settings = Settings()
    if serving:
        try:
            settings.check_for_serving()
        except ConfigurationError as err:
            console.print(f"[red]configuration error:[/red] {err}")
            raise typer.Exit(2) from None
    return settings


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def up() -> None:
    """Run everything on this machine: the embedded Temporal dev server (unless CR_TEMPORAL_ADDRESS is
    set), the worker and the HTTP API."""
    from services.runtime import embedded_temporal, serve

    settings = _settings()
    _logging()
    try:
        if settings.temporal_address:
            asyncio.run(serve(settings, api=True, worker=True))
            return
        with embedded_temporal(settings) as address:
            console.print(
                f"Temporal dev server on {address} (Web UI http://127.0.0.1:{settings.temporal_ui_port}); "
                f"API on http://{settings.api_host}:{settings.api_port} (docs at /docs)"
            )
            asyncio.run(serve(settings, api=True, worker=True, address=address))
    except ConfigurationError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@app.command()
def api() -> None:
    """Run only the HTTP API (needs CR_TEMPORAL_ADDRESS)."""
    from services.runtime import serve

    settings = _settings()
    _require_address(settings)
    _logging()
    asyncio.run(serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """Run only a worker (needs CR_TEMPORAL_ADDRESS)."""
    from services.runtime import serve

    settings = _settings(serving=False)
    _require_address(settings)
    _logging()
    asyncio.run(serve(settings, api=False, worker=True))


@app.command()
def simulate(
    carts: int = typer.Option(50, min=1, max=100_000, help="how many synthetic carts"),
    url: str = typer.Option("", help="service base URL (default: CR_PUBLIC_URL)"),
    seed: int = typer.Option(7, help="random seed"),
    shop: str = typer.Option("demo-shop", help="shop name the carts belong to"),
) -> None:
    """Fire realistic synthetic webhooks (carts, behaviour, orders) at a running service."""
    from services.simulate import run_simulation

    settings = _settings(serving=False)
    if not settings.webhook_secret:
        console.print("[red]set CR_WEBHOOK_SECRET (the same value the service uses) to sign the webhooks[/red]")
        raise typer.Exit(2)
    summary = asyncio.run(run_simulation(settings, url or settings.public_url, carts, seed, shop, console))
    console.print(summary)


@app.command()
def status(url: str = typer.Option("", help="service base URL (default: CR_PUBLIC_URL)")) -> None:
    """Health of the running service and what the journeys are doing."""
    from services.status import journey_counts

    settings = _settings(serving=False)
    base = (url or settings.public_url).rstrip("/")
    try:
        health = httpx.get(f"{base}/healthz", timeout=5).json()
    except httpx.HTTPError as err:
        health = {"status": f"unreachable ({type(err).__name__})"}
    console.print(f"service {base}: {health}")
    counts = journey_counts(settings)
    for title, rows in counts.items():
        table = Table(title=title)
        table.add_column("")
        table.add_column("count", justify="right")
        for name, value in rows:
            table.add_row(str(name), str(value))
        console.print(table)


def _require_address(settings: Settings) -> None:
    if not settings.temporal_address:
        console.print("[red]set CR_TEMPORAL_ADDRESS (host:port of the Temporal frontend), or use `cartrecovery up`[/red]")
        raise typer.Exit(2)
