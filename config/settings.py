"""All settings of every process, read once from ``AFTERSALES_*`` environment variables."""

from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.links import MIN_SECRET_CHARS, LinkSigner
from domain.durations import parse_duration
from domain.notifications import Template
from domain.policy import Policy


class SmsBackend(StrEnum):
    """Where SMS go: the log (development) or an Aliyun-SendSms-shaped HTTP endpoint."""

    LOG = "log"
    ALIYUN = "aliyun"


# The waits an operator may write short (parse_duration) or as ISO 8601; each must be positive.
WAIT_SETTINGS = (
    "robot_throttle_wait",
    "digest_unprocessed_after",
    "session_ttl",
    "board_refresh",
    "link_ttl",
    "api_temporal_timeout",
)


class Settings(Policy, BaseSettings):
    """The process settings. Durations (inherited from :class:`Policy`) are the platform's defaults."""

    model_config = SettingsConfigDict(env_prefix="AFTERSALES_", enable_decoding=False, frozen=True)

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "aftersales"
    database_url: str = "sqlite:///./aftersales.db"
    api_keys: dict[str, str] = Field(default_factory=dict, description='JSON {"key": "mall|admin|merchant:<id>"}')
    metrics_key: str | None = Field(
        default=None, description="bearer key for /metrics; with it set, its counters are shown per merchant"
    )
    api_host: str = "0.0.0.0"  # noqa: S104  (the API serves the network in its container)
    api_port: int = 8000
    ui_port: int = Field(default=8233, description="the Temporal Web UI's port in the dev stack")
    public_url: str = "http://localhost:8000"
    timezone: str = "Asia/Shanghai"
    digest_cron: str = "0 9 * * *"
    digest_unprocessed_after: timedelta = Field(
        default=timedelta(hours=24), description="an after-sales case undecided this long counts in the digest"
    )
    session_secret: str = Field(default="", description="signs board session cookies; empty: a random one per process")
    session_ttl: timedelta = Field(default=timedelta(hours=12), description="how long a board login lasts")
    board_refresh: timedelta = Field(default=timedelta(seconds=30), description="how often the board refreshes")
    log_level: str = "INFO"
    log_format: str = Field(default="auto", description="json, console, or auto (console on a terminal)")
    codec_keys: SecretStr = Field(
        default=SecretStr(""), description="id:base64key,… encrypting Temporal payloads; the first encrypts"
    )
    link_secret: SecretStr = Field(
        default=SecretStr(""), description="signs action links (32+ characters); unset, messages carry none"
    )
    link_ttl: timedelta = Field(default=timedelta(hours=24), description="how long an action link may be used")
    codec_ui_origins: str = Field(
        default="http://localhost:8233", description="comma-separated Web UI origins allowed to call /codec"
    )

    platform_dingtalk_webhook: str | None = None
    platform_dingtalk_secret: str | None = None
    platform_wecom_webhook: str | None = None
    platform_mobiles: str = Field(default="", description="Comma-separated mobiles to @ in the platform group")
    allow_insecure_webhooks: bool = Field(
        default=False,
        description="accept http:// robot webhooks in merchants' configuration (dev stack, tests); else https only",
    )
    robot_max_per_minute: int = 20
    robot_throttle_wait: timedelta = Field(
        default=timedelta(seconds=60), description='how long a robot that answered "too many" is left alone'
    )
    # The platform customer-service group (work orders nobody took, appeals); unset, the platform group above.
    platform_cs_dingtalk_webhook: str | None = None
    platform_cs_dingtalk_secret: str | None = None
    platform_cs_wecom_webhook: str | None = None
    platform_cs_mobiles: str = Field(default="", description="Comma-separated mobiles to @ in the platform CS group")
    order_max_history_events: int = Field(
        default=5000, ge=20, description="an order watch continues as new before its Temporal history grows past this"
    )
    wo_max_history_events: int = Field(
        default=5000, ge=20, description="a work order continues as new before its Temporal history grows past this"
    )
    chat_max_history_events: int = Field(
        default=5000, ge=20, description="a conversation continues as new before its Temporal history grows past this"
    )
    case_max_history_events: int = Field(
        default=5000,
        ge=20,
        description="an after-sales case continues as new before its Temporal history grows past this",
    )

    sms_backend: SmsBackend = SmsBackend.LOG
    sms_endpoint: str | None = None
    sms_access_key_id: str = ""
    sms_access_key_secret: str = ""
    sms_sign_name: str = "美好生活"
    sms_template_code: str = Field(default="", description="the generic template: its ${content} carries the text")
    sms_templates: dict[str, str] = Field(
        default_factory=dict, description='JSON {"message kind": "template code"}: kinds with a template of their own'
    )

    payments_endpoint: str | None = None
    logistics_endpoint: str | None = None
    insurance_endpoint: str | None = None
    callback_url: str | None = Field(
        default=None, description="where the mall receives signed events (README: Callbacks)"
    )
    callback_secret: SecretStr = Field(
        default=SecretStr(""), description="whsec_… secrets signing callbacks, comma-separated; every one signs"
    )

    worker_metrics_address: str | None = Field(
        default=None, description="host:port where the worker serves Temporal SDK metrics for Prometheus"
    )
    # Worker tuning (README: Performance). None keeps the Temporal SDK's default (100 task slots, 5 pollers).
    worker_max_concurrent_workflow_tasks: int | None = Field(default=None, ge=1, description="workflow task slots")
    worker_max_concurrent_activities: int | None = Field(default=None, ge=1, description="activity task slots")
    worker_workflow_task_pollers: int | None = Field(default=None, ge=2, description="workflow task pollers")
    worker_activity_pollers: int | None = Field(default=None, ge=1, description="activity task pollers")
    worker_max_concurrent_local_activities: int | None = Field(
        default=None, ge=1, description="local activity slots (projections, channel look-ups)"
    )
    # 4, not 16: the projections (local activities since the burst work) write through these threads; with 500
    # deadlines at once, 16 threads fighting for the GIL and SQLite's one writer marked the last order later
    # (p99 11.1 s) than 4 (9.7 s) or 2 (8.0 s). README: Performance.
    worker_activity_threads: int = Field(
        default=4, ge=1, description="threads running the synchronous activities (database writes, local or not)"
    )
    # 30 s, not the SDK's 10 s: with 500 deadlines due at once on 2 cores, half the sticky tasks timed out
    # at 10 s (each then replayed in full elsewhere); at 30 s none did and the p99 overdue mark came 7 s sooner.
    worker_sticky_schedule_to_start: float = Field(
        default=30.0, gt=0, le=3600, description="seconds a sticky workflow task may wait before it goes to any worker"
    )
    worker_max_cached_workflows: int = Field(default=1000, ge=0, description="workflows kept in the worker's cache")
    # On by default and in every test, where it catches workflow code calling time, random or I/O. Off, the
    # worker runs each activation without the sandbox's import hooks and re-imports: 5-7 ms of CPU less per
    # action or deadline (README: Performance); the saved histories' replay still guards determinism.
    worker_sandbox: bool = Field(default=True, description="run workflow code in the Temporal SDK's sandbox")
    http_timeout_seconds: float = 10.0
    api_temporal_timeout: timedelta = Field(
        default=timedelta(seconds=10),
        description="the longest the API waits for Temporal (and its workers) on one call; then a 503",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1, description="larger request bodies are refused (413)")

    @field_validator("api_keys", "sms_templates", mode="before")
    @classmethod
    def _json_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as error:  # its message names a position, never the text
                raise ValueError(f"not valid JSON: {error.msg} at character {error.pos}") from None
        return value

    @field_validator("sms_templates")
    @classmethod
    def _known_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        kinds = {kind.value for kind in Template}
        if unknown := sorted(set(value) - kinds):
            raise ValueError(f"no message kind {', '.join(unknown)} (kinds: {', '.join(sorted(kinds))})")
        if blank := sorted(kind for kind, code in value.items() if not code.strip()):
            raise ValueError(f"an empty template code for {', '.join(blank)}")
        return value

    @field_validator(*WAIT_SETTINGS, mode="before")
    @classmethod
    def _written_duration(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.startswith("P"):
            return parse_duration(value)
        return value

    @field_validator(*WAIT_SETTINGS)
    @classmethod
    def _positive_wait(cls, value: timedelta) -> timedelta:
        if value <= timedelta():
            raise ValueError("must be positive")
        return value

    @field_validator("link_secret")
    @classmethod
    def _long_link_secret(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"link_secret must have at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator(
        "platform_dingtalk_webhook",
        "platform_wecom_webhook",
        "platform_cs_dingtalk_webhook",
        "platform_cs_wecom_webhook",
        "sms_endpoint",
        "callback_url",
        "payments_endpoint",
        "logistics_endpoint",
        "insurance_endpoint",
        "metrics_key",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    def policy(self) -> Policy:
        """The platform's default policy, before any merchant's overrides."""
        policy = Policy.model_validate({name: getattr(self, name) for name in Policy.model_fields})
        if policy.quiet_hours is not None:  # the platform's quiet hours are read in the platform's zone
            policy = policy.model_copy(update={"quiet_hours": policy.quiet_hours.in_zone(self.timezone)})
        return policy

    def link_signer(self) -> LinkSigner | None:
        """The signer of action links, or None while ``AFTERSALES_LINK_SECRET`` is unset (links are off)."""
        secret = self.link_secret.get_secret_value()
        if not secret:
            return None
        return LinkSigner(secret, ttl=self.link_ttl, public_url=self.public_url)

    @property
    def codec_origins(self) -> tuple[str, ...]:
        """Browser origins (the Temporal Web UI) allowed to call the codec endpoints."""
        return tuple(o.strip().rstrip("/") for o in self.codec_ui_origins.split(",") if o.strip())

    @property
    def platform_mention_mobiles(self) -> tuple[str, ...]:
        """Mobiles to @ in the platform supervisors' group."""
        return tuple(m.strip() for m in self.platform_mobiles.split(",") if m.strip())

    @property
    def platform_cs_mention_mobiles(self) -> tuple[str, ...]:
        """Mobiles to @ in the platform customer-service group."""
        return tuple(m.strip() for m in self.platform_cs_mobiles.split(",") if m.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()


# Settings whose values are secrets (or hold one: a webhook's token, a database password): a problem with
# one never names what is inside, not even a key of its JSON.
SECRET_SETTINGS = frozenset(
    {
        "api_keys",
        "codec_keys",
        "metrics_key",
        "session_secret",
        "link_secret",
        "database_url",
        "platform_dingtalk_webhook",
        "platform_dingtalk_secret",
        "platform_wecom_webhook",
        "platform_cs_dingtalk_webhook",
        "platform_cs_dingtalk_secret",
        "platform_cs_wecom_webhook",
        "sms_access_key_id",
        "sms_access_key_secret",
        "callback_url",
    }
)


def settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting: the variable and what is wrong, never the value written.

    Pydantic's own report quotes each input (``input_value='{"supersecretkey123": …'``) and a traceback
    follows it; a process that cannot start says only what to fix.
    """
    problems: list[str] = []
    for problem in error.errors(include_input=False, include_url=False):
        name, *inner = [str(part) for part in problem["loc"]] or ["?"]
        where = f"AFTERSALES_{name.upper()}"
        if inner and name not in SECRET_SETTINGS:
            where += f" ({'.'.join(inner)})"
        message = str(problem["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return problems
