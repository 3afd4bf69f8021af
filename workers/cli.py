"""The ``aftersales`` command: ``dev``, ``worker``, ``api``, ``migrate``, ``schedules``, ``codec-key``, ``demo``,
``bench``, ``chaos``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from config.logging import configure_logging
from config.settings import Settings, get_settings, settings_problems

TALK_TO_TEMPORAL = ("worker", "api", "schedules")
CODEC_KEYS = "AFTERSALES_CODEC_KEYS"


def main(argv: list[str] | None = None) -> int:
    """Runs one of the product's processes."""
    parser = argparse.ArgumentParser(prog="aftersales", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="Temporal dev server + worker + API on one machine (Ctrl-C stops all)")
    commands.add_parser("worker", help="run a worker on AFTERSALES_TASK_QUEUE")
    commands.add_parser("api", help="migrate the database, then serve the API")
    commands.add_parser("migrate", help="upgrade the read model's database to the newest schema")
    schedules = commands.add_parser("schedules", help="create or update the daily digest's Temporal Schedule")
    schedules.add_argument("--trigger", action="store_true", help="also run the digest now (once per day)")
    codec_key = commands.add_parser("codec-key", help="print a new id:key item for AFTERSALES_CODEC_KEYS")
    codec_key.add_argument("id", help="the key's id, e.g. the month it is made: 2026-11")
    demo = commands.add_parser("demo", help="drive a few realistic orders against a running stack")
    demo.add_argument("--url", default=None, help="the API's base URL (default: this machine, AFTERSALES_API_PORT)")
    bench = commands.add_parser("bench", help="measure the API end to end on a local dev server")
    bench.add_argument("--count", type=int, default=300, help="operations of each kind")
    bench.add_argument("--concurrency", type=int, default=20, help="requests in flight at once")
    bench.add_argument("--burst", type=int, default=500, help="ship deadlines (and raw timers) due in one second")
    bench.add_argument("--spread", type=int, default=0, help="ship deadlines (and raw timers) due at 20 per second")
    bench.add_argument("--burst-lead", type=float, default=None, help="seconds until the burst is due (15 + burst/12)")
    bench.add_argument("--scale", type=int, default=0, help="open this many more order watches; report RSS per 1,000")
    bench.add_argument("--database-url", default=None, help="the read model (default: a SQLite file of the run's own)")
    bench.add_argument(
        "--no-fsync", action="store_true", help="the dev server's SQLite file without fsync (synchronous=OFF)"
    )
    bench.add_argument(
        "--rollback-journal",
        action="store_true",
        help="the dev server's SQLite file in its default rollback-journal mode, not in WAL mode as make dev runs it",
    )
    chaos = commands.add_parser("chaos", help="load while the worker, then the dev server, is SIGKILLed; checks")
    chaos.add_argument("--orders-per-second", type=float, default=2.0, help="orders whose ship deadline falls due")
    chaos.add_argument("--cases-per-second", type=float, default=0.5, help="refund-only cases requested, approved")
    chaos.add_argument("--lead", type=int, default=30, help="seconds from an order's payment to its ship deadline")
    chaos.add_argument("--outage", type=float, default=10.0, help="seconds the worker, then the server, stays down")
    chaos.add_argument("--merchants", type=int, default=4, help="merchants the orders are spread over")
    chaos.add_argument("--settle", type=float, default=120.0, help="longest wait for quiet after the last deadline")
    args = parser.parse_args(argv)

    if args.command == "codec-key":
        from config.codec import new_key

        print(new_key(args.id))
        return 0
    try:
        settings = get_settings()
    except ValidationError as error:
        return refuse(args.command, settings_problems(error))
    if problems := startup_problems(args.command, settings):
        return refuse(args.command, problems)
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if args.command == "dev":
        from workers.dev import run_dev

        return run_dev(settings)
    if args.command == "worker":
        from workers.main import run_worker

        asyncio.run(run_worker(settings))
        return 0
    if args.command == "api":
        import uvicorn

        from api.main import create_app

        app = create_app(settings)
        uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None)
        return 0
    if args.command == "migrate":
        from readmodel.migrate import upgrade

        upgrade(settings.database_url)
        return 0
    if args.command == "schedules":
        from workers.schedules import run_schedules

        return asyncio.run(run_schedules(settings, trigger=args.trigger))
    if args.command == "demo":
        from workers.demo import run_demo

        return asyncio.run(run_demo(settings, base_url=args.url))
    if args.command == "bench":
        from workers.bench import run_bench

        return asyncio.run(
            run_bench(
                count=args.count,
                concurrency=args.concurrency,
                burst=args.burst,
                spread=args.spread,
                burst_lead=args.burst_lead,
                scale=args.scale,
                fsync=not args.no_fsync,
                wal=not args.rollback_journal,
                database_url=args.database_url,
            )
        )
    if args.command == "chaos":
        from workers.chaos import run_chaos
        from workers.chaos_load import Plan

        plan = Plan(
            orders_per_second=args.orders_per_second,
            cases_per_second=args.cases_per_second,
            lead=args.lead,
            outage=args.outage,
            merchants=args.merchants,
            settle=args.settle,
        )
        return run_chaos(plan)
    return 2


def startup_problems(command: str, settings: Settings) -> list[str]:
    """What in ``settings`` would stop ``command`` once started, found before anything starts.

    The codec keys (every process that talks to Temporal; the dev stack makes its own when unset) and the
    API keys' roles; each problem names its setting, never a key.
    """
    from api.deps import InvalidKeysError
    from api.main import callers
    from config.codec import CodecKeyError
    from config.temporal import codec

    problems: list[str] = []
    if command in TALK_TO_TEMPORAL or (command == "dev" and settings.codec_keys.get_secret_value()):
        try:
            codec(settings)
        except CodecKeyError as error:
            text = str(error)
            problems.append(text if text.startswith(CODEC_KEYS) else f"{CODEC_KEYS}: {text}")
    if command in ("api", "dev"):
        try:
            callers(settings)
        except InvalidKeysError as error:
            problems.append(str(error))
    return problems


def refuse(command: str, problems: list[str]) -> int:
    """Reports settings to fix, one line each and no traceback (a setting to fix, not a crash to debug)."""
    for problem in problems:
        print(f"aftersales {command}: {problem}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
