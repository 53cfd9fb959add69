"""`fastlb ctl ...`: runtime changes through a running fastlb's HTTP API (urllib only).

Exit status: 0 done, 1 the API refused (its message is printed) or could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .contract import MAX_WEIGHT

__all__ = ["DEFAULT_API_URL", "ApiError", "add_api_arguments", "add_ctl_parser", "call_api"]

DEFAULT_API_URL = "http://127.0.0.1:9100"
EXIT_OK = 0
EXIT_FAILURE = 1


class ApiError(Exception):
    """The API answered with an error status, or could not be reached; `str()` says which."""


def add_api_arguments(parser: argparse.ArgumentParser, *, token: bool = True) -> None:
    """`--api URL` (and `--token T`), defaulting to $FASTLB_API_URL / $FASTLB_API_TOKEN."""
    parser.add_argument(
        "--api",
        default=os.environ.get("FASTLB_API_URL", DEFAULT_API_URL),
        metavar="URL",
        help=f"the API's base URL (default: $FASTLB_API_URL or {DEFAULT_API_URL})",
    )
    if token:
        parser.add_argument(
            "--token",
            default=os.environ.get("FASTLB_API_TOKEN"),
            help="the API token (default: $FASTLB_API_TOKEN)",
        )


def add_ctl_parser(commands: Any) -> None:
    """Register `ctl` and its actions on the `fastlb` command's subparsers."""
    ctl = commands.add_parser("ctl", help="change a running fastlb through its API")
    add_api_arguments(ctl)
    ctl.set_defaults(handler=run_ctl)
    # The same options after the action (`ctl drain web a --api URL`); SUPPRESS keeps the
    # value given before it (or the default) when they are not repeated there.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api", default=argparse.SUPPRESS, metavar="URL", help="the API's URL")
    common.add_argument("--token", default=argparse.SUPPRESS, help="the API token")
    actions = ctl.add_subparsers(dest="ctl_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, *args: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text, parents=[common])
        for arg in args:
            parser.add_argument(arg)
        return parser

    set_weight = action(
        "set-weight", f"set a server's weight: 0..{MAX_WEIGHT} or N%% of its configured one"
    )
    set_weight.add_argument("backend")
    set_weight.add_argument("server")
    set_weight.add_argument("weight", type=_weight_argument, metavar="WEIGHT|N%")
    set_weight.set_defaults(action=_set_weight)
    for state, help_text in (
        ("drain", "no new connections; established ones carry on"),
        ("maint", "maintenance: no new connections"),
        ("ready", "back to taking connections"),
    ):
        action(state, help_text, "backend", "server").set_defaults(action=_set_state, state=state)
    add = action("add-server", "add a server to a backend", "backend", "name", "address")
    add.add_argument("--weight", type=int, default=1, help=f"0..{MAX_WEIGHT} (default 1)")
    add.add_argument("--backup", action="store_true", help="only used while no other can serve")
    add.set_defaults(action=_add_server)
    action("remove-server", "remove a server", "backend", "server").set_defaults(
        action=_remove_server
    )
    action("reload", "re-read the configuration file").set_defaults(action=_reload)
    action("stats", "print the stats as JSON").set_defaults(action=_stats)
    node = action(
        "node", "this node in a BGP fleet: `node drain` leaves it without breaking a connection"
    )
    node.add_argument("node_action", choices=["drain"], metavar="drain")
    node.set_defaults(action=_node_drain)
    mysql = action("mysql", "MySQL backends: `mysql switchover BACKEND [--to SERVER]`")
    mysql.add_argument("mysql_action", choices=["switchover"], metavar="switchover")
    mysql.add_argument("backend")
    mysql.add_argument("--to", metavar="SERVER", help="the replica to promote (default: best)")
    mysql.set_defaults(action=_mysql_switchover)


def _weight_argument(text: str) -> int | str:
    if re.fullmatch(r"\d{1,6}%", text):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid weight {text!r}: give 0..{MAX_WEIGHT} or a percentage like 50%"
        ) from None


# --------------------------------------------------------------------------- actions


def _run(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    return call_api(args.api, method, path, body=body, token=args.token)


def _server_path(backend: str, server: str | None = None) -> str:
    path = f"/api/backends/{urllib.parse.quote(backend, safe='')}/servers"
    return f"{path}/{urllib.parse.quote(server, safe='')}" if server is not None else path


def _set_weight(args: argparse.Namespace) -> int:
    reply = _run(args, "PUT", _server_path(args.backend, args.server), {"weight": args.weight})
    print(f"backend {args.backend}: server {args.server} weight {reply.get('weight')}")
    return EXIT_OK


def _set_state(args: argparse.Namespace) -> int:
    reply = _run(args, "PUT", _server_path(args.backend, args.server), {"state": args.state})
    print(
        f"backend {args.backend}: server {args.server} state {reply.get('state')} "
        f"(status {reply.get('status')})"
    )
    return EXIT_OK


def _add_server(args: argparse.Namespace) -> int:
    body = {"name": args.name, "address": args.address, "weight": args.weight}
    body["backup"] = args.backup
    reply = _run(args, "POST", _server_path(args.backend), body)
    role = ", backup" if reply.get("backup") else ""
    print(
        f"backend {args.backend}: server {args.name} added "
        f"({reply.get('address')}, weight {reply.get('weight')}{role})"
    )
    return EXIT_OK


def _remove_server(args: argparse.Namespace) -> int:
    _run(args, "DELETE", _server_path(args.backend, args.server))
    print(f"backend {args.backend}: server {args.server} removed")
    return EXIT_OK


def _reload(args: argparse.Namespace) -> int:
    reply = _run(args, "POST", "/api/reload")
    for change in reply.get("changes") or ["no changes"]:
        print(f"reloaded: {change}")
    return EXIT_OK


def _stats(args: argparse.Namespace) -> int:
    print(json.dumps(_run(args, "GET", "/api/stats"), indent=2))
    return EXIT_OK


def _node_drain(args: argparse.Namespace) -> int:
    reply = _run(args, "POST", "/api/node/drain")
    print(
        "node draining: routes withdrawn; stopping once connections end "
        f"(at most {reply.get('drain_timeout'):g}s)"
    )
    return EXIT_OK


def _mysql_switchover(args: argparse.Namespace) -> int:
    path = f"/api/mysql/{urllib.parse.quote(args.backend, safe='')}/switchover"
    reply = _run(args, "POST", path, {"to": args.to})
    print(
        f"backend {args.backend}: primary {reply.get('primary')} (was {reply.get('previous')}), "
        f"writes held {reply.get('write_pause_seconds', 0.0):.3f}s"
    )
    return EXIT_OK


def run_ctl(args: argparse.Namespace) -> int:
    """Run the chosen action; API errors are printed as `fastlb ctl: STATUS: message`."""
    try:
        status: int = args.action(args)
    except ApiError as exc:
        print(f"fastlb ctl: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return status


# --------------------------------------------------------------------------- HTTP


def call_api(
    api_url: str, method: str, path: str, *, body: Any = None, token: str | None = None
) -> Any:
    """`method api_url+path` with a JSON body; the decoded reply (None for 204).

    Raises ApiError with `STATUS: the API's message`, or why the API could not be reached.
    """
    request = urllib.request.Request(
        api_url.rstrip("/") + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"} if body is not None else {},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            return json.loads(data) if data else None
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{exc.code}: {_error_detail(exc)}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ApiError(f"cannot reach the API at {api_url}: {reason}") from None


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        reply = json.load(error)
    except ValueError:
        return str(error.reason)
    if not isinstance(reply, dict):
        return str(error.reason)
    problems = reply.get("problems")
    if isinstance(problems, list) and problems:  # POST /api/reload: one line per problem
        return "\n  ".join(
            ["invalid configuration, nothing changed:"]
            + [
                f"{p.get('field')}: {p.get('message')}" if p.get("field") else str(p.get("message"))
                for p in problems
            ]
        )
    detail = reply.get("detail", error.reason)
    if isinstance(detail, list):  # FastAPI's validation errors
        return "; ".join(_validation_message(item) for item in detail)
    return str(detail)


def _validation_message(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc", ()) if part != "body"]
    message = str(item.get("msg", item))
    return f"{'.'.join(loc)}: {message}" if loc else message
