"""The production wiring: docker-compose.yml, the Dockerfile and the PostgreSQL init script agree with each
other, with the workflows' search attributes and with the settings contract.

No Docker engine is needed: the files are read and checked the way compose would see them after it has
filled in ``${VARIABLES}`` from the operator's environment.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url
from temporalio.common import SearchAttributeIndexedValueType

from config.codec import parse_keys
from workflows import search_attributes

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"

# The setting names of API.md's "Settings (environment variables)" table. Names there are a contract
# (added to, never renamed); they are copied here so this test does not read outside the repository.
DOCUMENTED_SETTINGS = frozenset(
    {
        "AFTERSALES_TEMPORAL_ADDRESS",
        "AFTERSALES_TEMPORAL_NAMESPACE",
        "AFTERSALES_TASK_QUEUE",
        "AFTERSALES_WORKER_SANDBOX",
        "AFTERSALES_DATABASE_URL",
        "AFTERSALES_API_KEYS",
        "AFTERSALES_SHIP_DEADLINE",
        "AFTERSALES_SHIP_REMINDERS",
        "AFTERSALES_REVIEW_DEADLINE",
        "AFTERSALES_REVIEW_REMINDERS",
        "AFTERSALES_REVIEW_TIMEOUT_ACTION",
        "AFTERSALES_COOLING_OFF",
        "AFTERSALES_RETURN_SHIP_DEADLINE",
        "AFTERSALES_RECEIPT_DEADLINE",
        "AFTERSALES_APPEAL_WINDOW",
        "AFTERSALES_RESHIP_DEADLINE",
        "AFTERSALES_EXCHANGE_CONFIRM_DEADLINE",
        "AFTERSALES_WINDOW",
        "AFTERSALES_EXTENSION",
        "AFTERSALES_LOGISTICS_STALL",
        "AFTERSALES_PICKUP_PAYMENT_DEADLINE",
        "AFTERSALES_WO_ACCEPT",
        "AFTERSALES_WO_FIRST_RESPONSE",
        "AFTERSALES_WO_RESOLVE_URGENT",
        "AFTERSALES_WO_RESOLVE_NORMAL",
        "AFTERSALES_WO_AUTO_CLOSE",
        "AFTERSALES_WO_REOPEN_WINDOW",
        "AFTERSALES_CHAT_REPLY",
        "AFTERSALES_DIGEST_CRON",
        "AFTERSALES_TIMEZONE",
        "AFTERSALES_PLATFORM_DINGTALK_WEBHOOK",
        "AFTERSALES_PLATFORM_DINGTALK_SECRET",
        "AFTERSALES_PLATFORM_WECOM_WEBHOOK",
        "AFTERSALES_SMS_BACKEND",
        "AFTERSALES_SMS_ENDPOINT",
        "AFTERSALES_PAYMENTS_ENDPOINT",
        "AFTERSALES_LOGISTICS_ENDPOINT",
        "AFTERSALES_INSURANCE_ENDPOINT",
        "AFTERSALES_CALLBACK_URL",
        "AFTERSALES_CODEC_KEYS",
        "AFTERSALES_CODEC_UI_ORIGINS",
        "AFTERSALES_PUBLIC_URL",
        "AFTERSALES_LINK_SECRET",
        "AFTERSALES_LINK_TTL",
        "AFTERSALES_SESSION_SECRET",
    }
)

SERVICES = {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui", "api", "worker"}
APP_SERVICES = ("api", "worker")
ONE_SHOTS = ("temporal-schema", "temporal-setup")

# What the operator exports before `docker compose up` (the README's production section).
OPERATOR_ENV = {
    "AFTERSALES_API_KEYS": '{"a-long-random-key": "admin"}',
    "AFTERSALES_CODEC_KEYS": "2026-11:8XbgaPEMr1yGHRpBvWfCeUrhCYZgPgMmiGlNe6ONxD0=",
    "AFTERSALES_SESSION_SECRET": "a-long-random-session-secret",
    "AFTERSALES_LINK_SECRET": "Vq0bH7p1r2Yg9sXcL4mN8tZ3kE6wJ5aD0fQ1uR7yT2o=",
}

# The names `temporal operator search-attribute create --type` takes.
CLI_TYPE = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
# Per namespace on SQL visibility: 10 Keyword, 3 of every other type.
SQL_VISIBILITY_LIMITS = {"Keyword": 10, "Text": 3, "Int": 3, "Double": 3, "Bool": 3, "Datetime": 3, "KeywordList": 3}


class MissingVariableError(Exception):
    """A ``${NAME:?message}`` whose variable the operator did not set: compose refuses to start."""


_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Fills in ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?error}``, ``$$`` as compose does."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in env
        filled = present and env[name] != ""
        if op == ":-":
            return env[name] if filled else arg
        if op == "-":
            return env[name] if present else arg
        if op in (":?", "?") and not (filled if op == ":?" else present):
            raise MissingVariableError(f"{name}: {arg}")
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def resolve(node: Any, env: dict[str, str]) -> Any:
    """The loaded compose file with every string interpolated."""
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    resolved = resolve(raw, env)
    assert isinstance(resolved, dict)
    return resolved


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    """The services as compose sees them once the operator has exported the API keys."""
    loaded = load_compose(OPERATOR_ENV)["services"]
    assert isinstance(loaded, dict)
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, from either the mapping or the ``NAME=value`` list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Each dependency and the condition compose waits for (``service_started`` for the short form)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """Container port → host port, from the short (``[ip:]host:container``) or the long syntax."""
    published: dict[int, int] = {}
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published[int(port["target"])] = int(port["published"])
            continue
        parts = str(port).split("/")[0].split(":")
        assert len(parts) >= 2, f"{port!r} publishes no fixed host port"
        published[int(parts[-1])] = int(parts[-2])
    return published


def script(service: dict[str, Any]) -> str:
    """The shell text a one-shot runs, with line continuations joined."""
    command = service.get("command")
    text = "\n".join(command) if isinstance(command, list) else str(command)
    return text.replace("\\\n", " ")


def commands(text: str, program: str) -> list[list[str]]:
    """Every invocation of ``program`` in a shell script, as argument lists."""
    found = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for start, word in enumerate(words):
            if word == program:
                end = next((i for i in range(start, len(words)) if _ends_command(words[i])), len(words))
                found.append(words[start:end])
    return found


def _ends_command(word: str) -> bool:
    return word in {"do", "then"} or all(char in "();<>|&" for char in word)


def option(args: list[str], *names: str) -> str:
    for index, arg in enumerate(args[:-1]):
        if arg in names:
            return args[index + 1]
    raise AssertionError(f"none of {names} in {args}")


def image_reference(image: str) -> tuple[str, str]:
    """``repository``, ``tag`` of an image reference (``""`` when it has no tag)."""
    name = image.split("@", 1)[0]
    repository, _, tag = name.rpartition(":")
    if not repository or "/" in tag:
        return name, ""
    return repository, tag


def created_databases() -> set[str]:
    sql = re.sub(r"--[^\n]*", "", INIT_SQL.read_text(encoding="utf-8"))
    return {name.lower() for name in re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", sql, flags=re.IGNORECASE)}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, comments dropped and continuations joined."""
    lines = [line for line in DOCKERFILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_every_service_of_the_stack_is_defined(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        repository, tag = image_reference(service["image"])
        assert tag, f"{name}: {service['image']} has no tag"
        assert tag != "latest", f"{name}: {service['image']} floats"
        assert re.match(r"\d+(\.\d+)+", tag), f"{name}: {service['image']} is not pinned to a version"
        assert repository != "temporalio/auto-setup", f"{name}: the auto-setup image is deprecated"


def test_temporal_runs_the_plain_server_image(services: dict[str, dict[str, Any]]) -> None:
    repository, _ = image_reference(services["temporal"]["image"])
    assert repository == "temporalio/server"


def test_one_shots_use_the_admin_tools_of_the_server_release(services: dict[str, dict[str, Any]]) -> None:
    _, server_tag = image_reference(services["temporal"]["image"])
    for name in ONE_SHOTS:
        repository, tag = image_reference(services[name]["image"])
        assert repository == "temporalio/admin-tools", name
        assert tag.split("-")[0] == server_tag, f"{name}: admin-tools {tag} with server {server_tag}"
        assert services[name].get("restart", "no") == "no", f"{name} must run once, not restart"


def test_postgresql_creates_the_three_databases_on_first_start(services: dict[str, dict[str, Any]]) -> None:
    postgresql = services["postgresql"]
    assert image_reference(postgresql["image"])[0] == "postgres"
    assert image_reference(postgresql["image"])[1].split(".")[0] == "16"
    assert created_databases() == {"temporal", "temporal_visibility", "aftersales"}
    mounts = [str(volume) for volume in postgresql["volumes"]]
    assert any(mount.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/") for mount in mounts), mounts
    data = [mount for mount in mounts if mount.endswith(":/var/lib/postgresql/data")]
    assert data, "the data directory is not on a volume"
    volume_name = data[0].split(":")[0]
    assert volume_name in load_compose(OPERATOR_ENV)["volumes"], f"{volume_name} is not a named volume"
    env = environment(postgresql)
    assert env["POSTGRES_USER"]
    assert env["POSTGRES_PASSWORD"]
    assert "pg_isready" in " ".join(postgresql["healthcheck"]["test"])


def test_schema_one_shot_migrates_both_temporal_databases_before_the_server_starts(
    services: dict[str, dict[str, Any]],
) -> None:
    schema = services["temporal-schema"]
    assert depends_on(schema) == {"postgresql": "service_healthy"}
    assert depends_on(services["temporal"]).get("temporal-schema") == "service_completed_successfully"

    steps: dict[str, list[str]] = {}
    update_dirs = {}
    for args in commands(script(schema), "temporal-sql-tool"):
        assert option(args, "--plugin", "--pl") == "postgres12", args
        assert option(args, "--endpoint", "--ep") == "postgresql", args
        database = option(args, "--database", "--db")
        step = next(word for word in args if word in {"create", "create-database", "setup-schema", "update-schema"})
        steps.setdefault(database, []).append(step)
        if step == "setup-schema":
            assert option(args, "-v", "--version") == "0.0", args
        if step == "update-schema":
            update_dirs[database] = option(args, "-d", "--schema-dir")
    assert steps == {
        "temporal": ["create", "setup-schema", "update-schema"],
        "temporal_visibility": ["create", "setup-schema", "update-schema"],
    }
    assert update_dirs == {
        "temporal": "/etc/temporal/schema/postgresql/v12/temporal/versioned",
        "temporal_visibility": "/etc/temporal/schema/postgresql/v12/visibility/versioned",
    }
    env = environment(schema)
    postgres_env = environment(services["postgresql"])
    assert (env["SQL_USER"], env["SQL_PASSWORD"]) == (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"])


def test_temporal_server_is_configured_for_postgresql_by_environment(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    env = environment(temporal)
    postgres_env = environment(services["postgresql"])
    assert env["DB"] == "postgres12"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (
        postgres_env["POSTGRES_USER"],
        postgres_env["POSTGRES_PASSWORD"],
    )
    assert {env.get("DBNAME", "temporal"), env.get("VISIBILITY_DBNAME", "temporal_visibility")} <= created_databases()
    assert 7233 in published_ports(temporal)
    assert "7233" in " ".join(temporal["healthcheck"]["test"])


def test_setup_creates_the_default_namespace_once_the_server_is_healthy(services: dict[str, dict[str, Any]]) -> None:
    setup = services["temporal-setup"]
    assert depends_on(setup) == {"temporal": "service_healthy"}
    assert environment(setup)["TEMPORAL_ADDRESS"] == "temporal:7233"
    creates = [args for args in commands(script(setup), "temporal") if args[1:4] == ["operator", "namespace", "create"]]
    assert len(creates) == 1
    namespace = option(creates[0], "--namespace", "-n")
    assert namespace == "default"
    # Tolerant of a namespace that already exists: created only when describe fails.
    assert re.search(r"namespace describe[^\n]*\|\|\s*temporal operator namespace create", script(setup))
    for name in APP_SERVICES:
        assert environment(services[name])["AFTERSALES_TEMPORAL_NAMESPACE"] == namespace


def test_setup_registers_exactly_the_search_attributes_the_workflows_set(services: dict[str, dict[str, Any]]) -> None:
    setup = services["temporal-setup"]
    creates = [
        args for args in commands(script(setup), "temporal") if args[1:4] == ["operator", "search-attribute", "create"]
    ]
    assert len(creates) == 1
    args = creates[0]
    assert option(args, "--namespace", "-n") == "default"
    names = [args[i + 1] for i, arg in enumerate(args) if arg == "--name"]
    types = [args[i + 1] for i, arg in enumerate(args) if arg == "--type"]
    assert len(names) == len(types)
    registered = dict(zip(names, types, strict=True))

    assert registered == {
        "MerchantId": "Keyword",
        "OrderId": "Keyword",
        "CaseKind": "Keyword",
        "CaseStatus": "Keyword",
        "DeadlineAt": "Datetime",
        "Overdue": "Bool",
        "Priority": "Keyword",
        "AssigneeId": "Keyword",
    }
    assert registered == {key.name: CLI_TYPE[key.indexed_value_type] for key in search_attributes.ALL}
    for type_name in set(types):
        assert types.count(type_name) <= SQL_VISIBILITY_LIMITS[type_name], f"too many {type_name} attributes"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_waits_for_the_database_and_the_temporal_setup(services: dict[str, dict[str, Any]], name: str) -> None:
    assert depends_on(services[name]) == {
        "postgresql": "service_healthy",
        "temporal-setup": "service_completed_successfully",
    }


def test_api_and_worker_run_the_image_built_here(services: dict[str, dict[str, Any]]) -> None:
    for name, command in (("api", ["aftersales", "api"]), ("worker", ["aftersales", "worker"])):
        service = services[name]
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert context == ".", name
        assert isinstance(build, str) or build.get("dockerfile", "Dockerfile") == "Dockerfile", name
        given = service["command"]
        assert (given if isinstance(given, list) else shlex.split(given)) == command
    assert services["api"]["image"] == services["worker"]["image"]


def test_api_publishes_8000_and_the_web_ui_8233(services: dict[str, dict[str, Any]]) -> None:
    assert published_ports(services["api"]) == {8000: 8000}
    assert published_ports(services["temporal-ui"]) == {8080: 8233}
    assert environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert not published_ports(services["worker"]), "workers only poll Temporal; scaling them needs no ports"


def test_worker_does_not_inherit_the_api_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    assert services["worker"]["healthcheck"] == {"disable": True}
    assert "healthcheck" not in services["api"], "the api uses the image's /healthz check"


def test_api_and_worker_are_configured_only_by_documented_settings(services: dict[str, dict[str, Any]]) -> None:
    api_env = environment(services["api"])
    assert set(api_env) <= DOCUMENTED_SETTINGS, set(api_env) - DOCUMENTED_SETTINGS
    assert environment(services["worker"]) == api_env
    assert api_env["AFTERSALES_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert api_env["AFTERSALES_TASK_QUEUE"] == "aftersales"
    assert api_env["AFTERSALES_TIMEZONE"] == "Asia/Shanghai"
    assert api_env["AFTERSALES_WORKER_SANDBOX"] == "off"  # measured: README, Performance
    assert api_env["AFTERSALES_API_KEYS"] == OPERATOR_ENV["AFTERSALES_API_KEYS"]


def test_database_url_points_at_the_compose_postgresql_with_psycopg(services: dict[str, dict[str, Any]]) -> None:
    postgres_env = environment(services["postgresql"])
    url = make_url(environment(services["api"])["AFTERSALES_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "postgresql"
    assert (url.port or 5432) == 5432
    assert url.database in created_databases()
    assert url.database not in {"temporal", "temporal_visibility"}, "the read model gets a database of its own"
    assert (url.username, url.password) == (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"])


def test_database_password_set_by_the_operator_reaches_every_client() -> None:
    env = {**OPERATOR_ENV, "POSTGRES_USER": "ops", "POSTGRES_PASSWORD": "s3cret"}
    services = load_compose(env)["services"]
    assert environment(services["postgresql"])["POSTGRES_PASSWORD"] == "s3cret"
    assert environment(services["temporal"])["POSTGRES_PWD"] == "s3cret"
    assert environment(services["temporal-schema"])["SQL_PASSWORD"] == "s3cret"
    url = make_url(environment(services["worker"])["AFTERSALES_DATABASE_URL"])
    assert (url.username, url.password) == ("ops", "s3cret")


def test_compose_refuses_to_start_without_api_keys() -> None:
    with pytest.raises(MissingVariableError, match="AFTERSALES_API_KEYS"):
        load_compose({})


def test_compose_refuses_to_start_without_payload_keys() -> None:
    with pytest.raises(MissingVariableError, match="AFTERSALES_CODEC_KEYS"):
        load_compose({"AFTERSALES_API_KEYS": OPERATOR_ENV["AFTERSALES_API_KEYS"]})


def test_compose_refuses_to_start_without_a_board_session_secret() -> None:
    # Every API replica must sign and read the board's cookies with the same secret.
    keys = {name: OPERATOR_ENV[name] for name in ("AFTERSALES_API_KEYS", "AFTERSALES_CODEC_KEYS")}
    with pytest.raises(MissingVariableError, match="AFTERSALES_SESSION_SECRET"):
        load_compose(keys)


def test_compose_refuses_to_start_without_a_link_secret() -> None:
    without = {name: value for name, value in OPERATOR_ENV.items() if name != "AFTERSALES_LINK_SECRET"}
    with pytest.raises(MissingVariableError, match="AFTERSALES_LINK_SECRET"):
        load_compose(without)


def test_api_and_worker_share_the_link_secret_and_the_public_url(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        env = environment(services[name])
        assert env["AFTERSALES_LINK_SECRET"] == OPERATOR_ENV["AFTERSALES_LINK_SECRET"]
        assert env["AFTERSALES_PUBLIC_URL"] == "http://localhost:8000"


def test_api_and_worker_share_the_payload_keys_and_the_web_ui_decodes_through_the_api(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        assert environment(services[name])["AFTERSALES_CODEC_KEYS"] == OPERATOR_ENV["AFTERSALES_CODEC_KEYS"]
    assert list(parse_keys(OPERATOR_ENV["AFTERSALES_CODEC_KEYS"])) == ["2026-11"]
    ui_env = environment(services["temporal-ui"])
    endpoint = ui_env["TEMPORAL_CODEC_ENDPOINT"]
    assert endpoint == f"http://localhost:{published_ports(services['api'])[8000]}/codec"
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"  # the admin's /codec/login cookie
    ui_origin = f"http://localhost:{published_ports(services['temporal-ui'])[8080]}"
    assert environment(services["api"])["AFTERSALES_CODEC_UI_ORIGINS"] == ui_origin


def test_image_is_python_slim_and_installs_the_project_without_dev_extras() -> None:
    instructions = dockerfile_instructions()
    bases = [arguments.split()[0] for keyword, arguments in instructions if keyword == "FROM"]
    assert bases, "no FROM"
    assert all(base == "python:3.11-slim" for base in bases), bases
    installs = [arguments for keyword, arguments in instructions if keyword == "RUN" and "pip install" in arguments]
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", run) for run in installs), installs
    assert not any("[dev]" in run or "-e " in run for run in installs), "dev extras or an editable install"
    copies = " ".join(arguments for keyword, arguments in instructions if keyword == "COPY")
    assert "pyproject.toml" in copies or re.search(r"(^|\s)\.\s", copies), "the project is not copied in"


def test_image_does_not_run_as_root() -> None:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    users = [arguments for keyword, arguments in instructions[last_from:] if keyword == "USER"]
    assert users, "the final stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_image_serves_the_api_by_default_and_checks_healthz() -> None:
    instructions = dict(dockerfile_instructions())
    assert json.loads(instructions["CMD"]) == ["aftersales", "api"]
    healthcheck = instructions["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "urllib" in healthcheck
    assert "curl" not in healthcheck, "python:3.11-slim has no curl"


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".git", ".venv", ".env", "*.db", "tests"} <= ignored
