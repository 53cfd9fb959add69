"""The `fastlb` command: serve, check, demo, version, ctl.

Exit status: 0 ok, 1 runtime failure (e.g. an address already in use), 2 invalid
configuration or usage. A ConfigError never shows a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from .balancer import LoadBalancer
from .config import Config, load_config
from .errors import ConfigError

log = logging.getLogger("fastlb")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2

DEFAULT_API_URL = "http://127.0.0.1:9100"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fastlb` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastlb", description="A load balancer with a Rust data path."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run in the foreground until SIGTERM/SIGINT")
    serve.add_argument("-c", "--config", required=True, metavar="FILE", help=".yaml or .toml")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    serve.set_defaults(handler=_serve)

    check = commands.add_parser("check", help="validate a configuration file")
    check.add_argument("-c", "--config", required=True, metavar="FILE", help=".yaml or .toml")
    check.set_defaults(handler=_check)

    demo = commands.add_parser("demo", help="run fastlb in front of 3 small local web servers")
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="exit after this long (default: Ctrl-C)"
    )
    demo.set_defaults(handler=_demo)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=_version)

    ctl = commands.add_parser("ctl", help="change a running fastlb through its API")
    ctl_commands = ctl.add_subparsers(dest="ctl_command", required=True, metavar="ACTION")
    set_weight = ctl_commands.add_parser("set-weight", help="set a server's weight (0..256)")
    set_weight.add_argument("backend")
    set_weight.add_argument("server")
    set_weight.add_argument("weight", type=int)
    set_weight.add_argument(
        "--api",
        default=os.environ.get("FASTLB_API_URL", DEFAULT_API_URL),
        metavar="URL",
        help=f"the API's base URL (default: $FASTLB_API_URL or {DEFAULT_API_URL})",
    )
    set_weight.add_argument(
        "--token",
        default=os.environ.get("FASTLB_API_TOKEN"),
        help="the API token (default: $FASTLB_API_TOKEN)",
    )
    set_weight.set_defaults(handler=_ctl_set_weight)
    return parser


# --------------------------------------------------------------------------- commands


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        config.to_core_dict()  # resolves host names: an unknown host is a config error too
    except ConfigError as exc:
        exc.source = args.config
        raise
    print(f"{args.config}: OK")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    _log_to_stderr(getattr(logging, args.log_level.upper()))
    config = load_config(args.config)
    try:
        return asyncio.run(_serve_until_signalled(config))
    except ConfigError as exc:  # e.g. a host name that does not resolve at start
        exc.source = exc.source or args.config
        raise


async def _serve_until_signalled(config: Config) -> int:
    # Handlers first: a SIGTERM that arrives while starting still means "drain and exit 0".
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)

    balancer = LoadBalancer(config)
    try:
        # The API runs on this loop rather than a thread: one loop for the control plane.
        balancer.start(api_in_thread=False)
    except OSError as exc:
        log.error("cannot start: %s", exc.strerror or exc)
        return EXIT_FAILURE

    waiters: set[asyncio.Task[Any]] = {asyncio.create_task(stop_requested.wait())}
    api_task = asyncio.create_task(balancer.serve_api()) if balancer.api_url else None
    if api_task is not None:
        waiters.add(api_task)
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)

    status = EXIT_OK
    if api_task is not None and api_task.done():
        log.error("the API stopped unexpectedly: %r", api_task.exception())
        status = EXIT_FAILURE
    # Draining blocks for up to drain_timeout: keep the loop (and the API) responsive.
    await asyncio.to_thread(balancer.stop)
    if api_task is not None:
        await asyncio.gather(api_task, return_exceptions=True)
    return status


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _log_to_stderr(logging.INFO)
    return run_demo(duration=args.duration)


def _version(args: argparse.Namespace) -> int:
    try:
        from . import _core
    except ImportError as exc:
        print(f"fastlb: the native core is not built ({exc})", file=sys.stderr)
        return EXIT_FAILURE
    print(f"fastlb {_core.__version__}")
    return EXIT_OK


def _ctl_set_weight(args: argparse.Namespace) -> int:
    result = _put_server(args.api, args.token, args.backend, args.server, {"weight": args.weight})
    if result is None:
        return EXIT_FAILURE
    print(f"backend {args.backend}: server {args.server} weight {result.get('weight')}")
    return EXIT_OK


# --------------------------------------------------------------------------- helpers


def _put_server(
    api_url: str, token: str | None, backend: str, server: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """PUT /api/backends/{backend}/servers/{server}; the decoded reply, or None after printing
    why it failed."""
    quoted = [urllib.parse.quote(part, safe="") for part in (backend, server)]
    url = f"{api_url.rstrip('/')}/api/backends/{quoted[0]}/servers/{quoted[1]}"
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            reply: dict[str, Any] = json.load(response)
            return reply
    except urllib.error.HTTPError as exc:
        print(f"fastlb ctl: {exc.code}: {_error_detail(exc)}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"fastlb ctl: cannot reach the API at {api_url}: {reason}", file=sys.stderr)
    return None


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.load(error).get("detail", error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(str(item.get("msg", item)) for item in detail)
    return str(detail)


def _log_to_stderr(level: int) -> None:
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvicorn narrates its own start/stop at INFO; fastlb already says what matters.
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
