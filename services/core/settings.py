"""The one Settings class: every knob of the service, read from `CR_*` environment variables and `.env`.

Embedded mode and docker-compose share these names; the README lists every one.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channel_models.vocabulary import CHANNELS


def default_processes(role: str) -> int:
    """`up`'s processes on this machine: a worker per core and an API process per four cores, at
    least one of each. On 2 cores, 2 workers sent 826 of 944 due touches at 8 new carts/s (p99 14 s
    late) where 1 sent 385 of 584 (p99 30 s): docs/PERFORMANCE.md, bench/journeys.py."""
    cores = os.cpu_count() or 1
    return max(1, cores if role == "worker" else cores // 4)


# The bootstrap admin key opens everything: long enough to be out of reach of guessing even at the
# rate a client could try keys, and not a padded word ("aaaa...", "0123456789...").
MIN_ADMIN_KEY_LENGTH = 32
MIN_ADMIN_KEY_DISTINCT = 12


def strong_enough(key: str) -> bool:
    return len(key) >= MIN_ADMIN_KEY_LENGTH and len(set(key)) >= MIN_ADMIN_KEY_DISTINCT


class ConfigurationError(Exception):
    """A setting that would make the service unsafe or unusable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CR_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_port: int = Field(7233, ge=1, le=65535, description="embedded dev server gRPC port")
    temporal_ui_port: int = Field(8233, ge=1, le=65535, description="embedded dev server Web UI port")
    task_queue: str = "cart-recovery"
    worker_cached_workflows: int = Field(
        5_000,
        ge=0,
        description="journeys a worker keeps in memory between their steps; one evicted replays its history when it wakes",
    )
    worker_activity_threads: int = Field(
        16, ge=1, le=256, description="journey steps a worker process runs at once, each on its own thread"
    )
    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)
    public_url: str = ""
    api_processes: int = Field(
        default_factory=lambda: default_processes("api"), ge=1, le=64, description="API processes `up` runs"
    )
    worker_processes: int = Field(
        default_factory=lambda: default_processes("worker"), ge=1, le=64, description="worker processes `up` runs"
    )

    shopify_webhook_secret: str = ""
    webhook_secret: str = ""
    admin_api_key: str = ""
    secret_key: str = ""

    email_url: str = ""
    sms_url: str = ""
    push_url: str = ""
    retargeting_url: str = ""
    email_from: str = ""
    shop_name: str = "Our shop"
    shop_address: str = ""
    support_url: str = ""
    discount_code: str = ""
    discount_percent: int = Field(10, ge=1, le=90)
    free_shipping_code: str = ""
    sms_max_segments: int = Field(
        2, ge=1, le=10, description="SMS segment budget a template must fit with worst-case data"
    )

    abandon_after_minutes: float = Field(30, gt=0)
    max_touches: int = Field(3, ge=0, le=10)
    attribution_window_hours: float = Field(120, gt=0)
    holdout_percent: float = Field(5, ge=0, le=100)
    time_scale: float = Field(1, gt=0, le=1_000_000)

    default_region: str = Field(
        "US", min_length=2, max_length=2, description="Region for phone numbers without +country"
    )
    email_requires_consent: bool = False
    shop_timezone: str = Field("UTC", description="zone for quiet hours when the shopper's is unknown")
    email_cap_hours: float = Field(16, ge=0)
    sms_cap_hours: float = Field(24, ge=0)
    push_cap_hours: float = Field(24, ge=0)

    max_webhook_bytes: int = Field(1_048_576, ge=1024)
    api_lock_wait_seconds: float = Field(
        3.0, gt=0, le=60, description="How long an API request waits for a database lock before it answers 503"
    )

    # models (channel_models/): which policy plans touches, how it explores, when models are trusted
    policy: Literal["auto", "rules", "fixed"] = Field(
        "auto",
        description="auto: trained models once Active, rules before; rules: always the rule prior; fixed: CR_FIXED_FLOW",
    )
    fixed_flow: str = Field(
        "email@4h,email@24h", description="channel@delay after abandonment, per touch, for CR_POLICY=fixed"
    )
    exploration: float = Field(
        0.1,
        ge=0,
        le=1,
        description="share of touches that explore (uniformly, or by Thompson sampling under a learned policy)",
    )
    reward: Literal["recoveries", "revenue", "margin"] = Field(
        "recoveries", description="what a learned policy maximises (channel_models/economics.py)"
    )
    gross_margin: float = Field(
        0.4, gt=0, le=1, description="share of a recovered cart's value the shop keeps, for CR_REWARD=margin"
    )
    send_costs: str = Field(
        "email=0,sms=0.05,push=0,retargeting=0.01",
        description="cost per message by channel, in the shop's currency, for CR_REWARD=margin",
    )
    incentive_cap: int = Field(
        1, ge=0, le=1000, description="incentives one shopper may receive within CR_INCENTIVE_CAP_DAYS (0: no cap)"
    )
    incentive_cap_days: float = Field(30.0, gt=0, le=3650, description="the incentive cap's period")
    free_shipping_cost: float = Field(
        0.05, ge=0, lt=1, description="what free shipping costs the shop, as a share of the cart value"
    )
    promotion_confidence: float = Field(
        0.9,
        ge=0.5,
        lt=1,
        description="one-sided confidence that a candidate policy beats the deciding one before promotion",
    )
    challenger_share: float = Field(
        0.2, ge=0, le=1, description="share of carts a policy version on trial decides beside the deciding one"
    )
    challenger_alpha: float = Field(
        0.05, gt=0, lt=0.5, description="highest chance the challenge promotes a version that is no better"
    )
    min_incentive_lift: float = Field(
        0.02, ge=0, le=1, description="estimated extra recovery rate an incentive must add"
    )
    feature_window_days: float = Field(
        90, gt=0, description="past window for recency / frequency / engagement features"
    )
    model_min_days: float = Field(14, ge=0, description="days of data before a model may become Active")
    model_min_carts: int = Field(
        1000, ge=0, description="abandoned carts with outcomes before a model may become Active"
    )
    model_min_conversions: int = Field(50, ge=0, description="recovered carts before a model may become Active")
    reason_min_labels: int = Field(
        200, ge=0, description="labelled reasons before the reason classifier may become Active"
    )
    retrain_cron: str = Field("0 3 * * *", description="Temporal Schedule for RetrainWorkflow (cron, shop time zone)")
    model_overdue_hours: float = Field(48, gt=0, description="no successful training for this long: Alert")
    model_stale_hours: float = Field(48, gt=0, description="no new decisions for this long: Alert")
    model_refresh_seconds: float = Field(30, ge=0, description="how often a worker checks for a newly promoted model")
    train_seed: int = 0

    @field_validator("email_url", "sms_url", "push_url", "retargeting_url")
    @classmethod
    def _url_has_scheme(cls, value: str) -> str:
        if value and "://" not in value:
            raise ValueError("must be an apprise URL such as mailtos://... or json://...")
        return value

    @field_validator("fixed_flow")
    @classmethod
    def _fixed_flow_parses(cls, value: str) -> str:
        from channel_models.rules.fixed_flow import parse_fixed_flow

        parse_fixed_flow(value)  # raises ValueError with the offending step
        return value

    @field_validator("send_costs")
    @classmethod
    def _send_costs_parse(cls, value: str) -> str:
        from channel_models.economics import parse_send_costs

        parse_send_costs(value)  # raises ValueError naming the channel
        return value

    @field_validator("shop_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'cartrecovery.db').as_posix()}"
        if not self.public_url:
            self.public_url = f"http://{self.api_host}:{self.api_port}"
        self.public_url = self.public_url.rstrip("/")
        return self

    def channel_url(self, channel: str) -> str:
        return getattr(self, f"{channel}_url")

    def configured_channels(self) -> tuple[str, ...]:
        return tuple(c for c in CHANNELS if self.channel_url(c))

    def signing_key(self) -> bytes:
        """Key for unsubscribe links, session cookies and CSRF tokens; generated once per data dir when not configured."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()

    def check_for_serving(self) -> None:
        """Fail fast before the service accepts traffic with settings that cannot be safe."""
        problems = []
        if not self.shopify_webhook_secret and not self.webhook_secret:
            problems.append("set CR_SHOPIFY_WEBHOOK_SECRET and/or CR_WEBHOOK_SECRET: unsigned webhooks are refused")
        if self.admin_api_key and not strong_enough(self.admin_api_key):
            problems.append(
                f"CR_ADMIN_API_KEY must be at least {MIN_ADMIN_KEY_LENGTH} characters, {MIN_ADMIN_KEY_DISTINCT} of"
                " them different (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if self.email_url and not self.email_from:
            problems.append("CR_EMAIL_FROM is required when CR_EMAIL_URL is set")
        if self.email_url and not self.shop_address:
            problems.append("CR_SHOP_ADDRESS (postal address for e-mail footers) is required when CR_EMAIL_URL is set")
        if problems:
            raise ConfigurationError("; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    return Settings()
