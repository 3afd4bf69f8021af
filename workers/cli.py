"""The ``aftersales`` command: ``dev``, ``worker``, ``api``, ``migrate``, ``schedules``, ``codec-key``, ``demo``,
``bench``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from config.logging import configure_logging
from config.settings import get_settings


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
    args = parser.parse_args(argv)

    if args.command == "codec-key":
        from config.codec import new_key

        print(new_key(args.id))
        return 0
    settings = get_settings()
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

        from api.deps import InvalidKeysError
        from api.main import create_app

        try:
            app = create_app(settings)
        except InvalidKeysError as error:
            print(f"aftersales api: {error}", file=sys.stderr)  # a setting to fix, not a crash to debug
            return 2
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

        return asyncio.run(run_bench(count=args.count, concurrency=args.concurrency))
    return 2


if __name__ == "__main__":
    sys.exit(main())
