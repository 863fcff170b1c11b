"""CLI: ``python -m healthsync.emulators strava --port 8701 [--seed 1] [--users 5]``."""

from __future__ import annotations

import argparse

import uvicorn

from . import SLUGS, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m healthsync.emulators", description=__doc__)
    parser.add_argument("partner", choices=SLUGS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    args = parser.parse_args(argv)
    app = create_app(
        args.partner,
        seed=args.seed,
        users=args.users,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
