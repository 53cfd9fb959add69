"""The `fastlb` command: serve, check, demo, stats, ctl, version, import-haproxy.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import logs
from .balancer import LoadBalancer
from .config import Config, load_config, parse_duration
from .ctl import add_api_arguments, add_ctl_parser
from .errors import ConfigError
from .lifecycle import Lifecycle
from .notify import Notifier, watchdog_interval
from .upgrade import UpgradeError, default_socket_path, take_over

log = logging.getLogger("fastlb")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
# Seconds beyond drain_timeout that stopping may take (the API, failover, threads).
STOP_MARGIN = 10.0


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
    serve.add_argument(
        "--log-format",
        default="text",
        choices=logs.FORMATS,
        help="text (journald's form under systemd) or json: one object per line",
    )
    serve.add_argument(
        "--upgrade",
        action="store_true",
        help="take over the listening sockets of the fastlb running with this config file "
        "(zero-downtime restart or upgrade); it then drains and exits",
    )
    serve.add_argument(
        "--upgrade-socket",
        metavar="PATH",
        help="unix socket where a running fastlb hands its sockets over (default: one per "
        "config file in $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR or the temp directory)",
    )
    serve.set_defaults(handler=_serve)

    check = commands.add_parser("check", help="validate a configuration file")
    check.add_argument("-c", "--config", required=True, metavar="FILE", help=".yaml or .toml")
    check.set_defaults(handler=_check)

    demo = commands.add_parser(
        "demo", help="run fastlb in front of 3 local web servers and a MariaDB primary/replica"
    )
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="exit after this long (default: Ctrl-C)"
    )
    demo.add_argument(
        "--switchover-after",
        type=float,
        metavar="SECONDS",
        help="switch the MySQL primary over to the replica this long after the start",
    )
    demo.set_defaults(handler=_demo)

    version = commands.add_parser(
        "version", help="print the version, git commit, build profile and features"
    )
    version.add_argument("--json", action="store_true", help="as one JSON object")
    version.set_defaults(handler=_version)

    stats = commands.add_parser("stats", help="a live view of a running fastlb's stats")
    add_api_arguments(stats, token=False)
    stats.add_argument(
        "--interval",
        type=_interval,
        default=1.0,
        metavar="DURATION",
        help="refresh period, e.g. 500ms or 2s (default 1s)",
    )
    stats.add_argument("--once", action="store_true", help="print one table and exit")
    stats.add_argument(
        "--digests",
        action="store_true",
        help="the heaviest statements of mode mysql frontends (query digests) instead",
    )
    stats.add_argument(
        "--sort",
        choices=["time", "calls", "errors"],
        default="time",
        help="with --digests: order by total time, calls or errors (default time)",
    )
    stats.add_argument(
        "--limit",
        type=int,
        default=20,
        help="with --digests: at most this many statements per frontend (default 20)",
    )
    stats.set_defaults(handler=_stats)

    imports = commands.add_parser(
        "import-haproxy", help="translate an HAProxy configuration (report on stderr)"
    )
    imports.add_argument("haproxy_cfg", metavar="HAPROXY_CFG", help="e.g. /etc/haproxy/haproxy.cfg")
    imports.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    imports.set_defaults(handler=_import_haproxy)

    add_ctl_parser(commands)
    return parser


# --------------------------------------------------------------------------- commands


def _check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        core_json = config.to_core_json()  # resolves host names: an unknown one is an error
        _check_with_core(core_json)
        _check_failover_grants(config)
        if config.failover is not None:
            from .failover.interface import inspect_interface

            # As for host names: the interface and its subnets are those of this host.
            inspect_interface(config.failover)
    except ConfigError as exc:
        exc.source = args.config
        raise
    print(f"{args.config}: OK")
    return EXIT_OK


def _check_failover_grants(config: Config) -> None:
    """With `mysql.failover` on, the monitor user must be able to promote and fence on every
    server that answers (one that does not is not judged)."""
    problems = []
    for index, backend in enumerate(config.backends):
        mysql = backend.mysql
        if mysql is None or mysql.monitor is None or mysql.failover is None:
            continue
        if mysql.failover.mode == "off":
            continue
        from .mysql.failover.grants import REQUIRED, missing_on_servers
        from .mysql.topology_sync import _specs

        missing = asyncio.run(
            missing_on_servers(_specs(backend), mysql.monitor.user, mysql.monitor.password)
        )
        for server, privileges in missing.items():
            needed = ", ".join(f"{p} ({REQUIRED[p]})" for p in privileges)
            problems.append(
                (
                    f"backends[{index}] ({backend.name}).mysql.monitor.user",
                    f"{mysql.monitor.user!r} on server {server} lacks privileges failover "
                    f"needs: {needed}; GRANT {', '.join(privileges)} ON *.* TO "
                    f"'{mysql.monitor.user}'@'...'",
                )
            )
    if problems:
        raise ConfigError(problems)


def _check_with_core(core_json: str) -> None:
    """Build (never start) the core's engine: it reads the certificate, key and CA files, so
    a key that does not match its certificate fails `check` as it would fail `serve`."""
    try:
        from . import _core
    except ImportError:  # a config check must work where the core isn't built
        return
    try:
        _core.Engine(core_json)
    except ValueError as exc:
        raise ConfigError([("", f"the core refused the configuration: {exc}")]) from None


def _serve(args: argparse.Namespace) -> int:
    logs.configure(getattr(logging, args.log_level.upper()), args.log_format)
    balancer = LoadBalancer.from_file(args.config)
    upgrade_socket = (
        Path(args.upgrade_socket) if args.upgrade_socket else default_socket_path(args.config)
    )
    inherited = None
    if args.upgrade:
        try:
            inherited = take_over(upgrade_socket)
        except (UpgradeError, ValueError, KeyError) as exc:
            log.error("cannot upgrade: %s", exc)
            return EXIT_FAILURE
        log.info("upgrade: received %d frontends' listening sockets", len(inherited.listeners))
    lifecycle = Lifecycle(args, upgrade_socket, inherited)
    try:
        return asyncio.run(_serve_until_signalled(balancer, lifecycle))
    except ConfigError as exc:  # e.g. a host name that does not resolve at start
        exc.source = exc.source or args.config
        raise
    finally:
        # Whatever was not adopted (a failed start): the old process carries on.
        if inherited is not None:
            inherited.close()


async def _serve_until_signalled(balancer: LoadBalancer, lifecycle: Lifecycle) -> int:
    # Handlers first: a SIGTERM that arrives while starting still means "drain and exit 0",
    # and a SIGHUP or SIGUSR1 must never kill the process (their default action).
    stop_requested = asyncio.Event()
    reload_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    # logrotate's postrotate (nginx's convention): reopening only sets flags in the core,
    # so it runs right here on the loop.
    loop.add_signal_handler(signal.SIGUSR1, balancer.reopen_logs)
    # HAProxy's and nginx's convention: SIGUSR2 starts a new process that takes over.
    loop.add_signal_handler(signal.SIGUSR2, lifecycle.upgrade_requested.set)

    inherited = lifecycle.inherited
    try:
        # The API and failover run on this loop rather than threads: one loop for the
        # control plane.
        balancer.start(api_in_thread=False, failover_in_thread=False, inherited=inherited)
    except OSError as exc:
        log.error("cannot start: %s", exc.strerror or exc)
        return EXIT_FAILURE
    notifier = Notifier()
    if inherited is not None:
        try:
            old_pid = await asyncio.to_thread(inherited.complete)
        except (OSError, ValueError, KeyError) as exc:
            # Serving already (on the same sockets): the old process decides for itself.
            log.warning("upgrade: the old process did not confirm the takeover: %s", exc)
        else:
            log.info("upgrade: took over from process %d, which drains now", old_pid)
        # Under systemd this process is the service's main process from now on.
        notifier.send(MAINPID=os.getpid(), READY=1, STATUS=_status_line(balancer))
    else:
        # Every frontend (and the API's socket) is bound and listening now: connections
        # queue in the kernel until served, so units ordered After= this one can connect.
        notifier.ready(_status_line(balancer))
    try:
        lifecycle.listen()
    except OSError as exc:
        log.warning("upgrade socket %s: %s (upgrades disabled)", lifecycle.path, exc)
    try:
        return await _serve_started(balancer, notifier, stop_requested, reload_requested, lifecycle)
    finally:
        lifecycle.close()
        notifier.close()


async def _serve_started(
    balancer: LoadBalancer,
    notifier: Notifier,
    stop_requested: asyncio.Event,
    reload_requested: asyncio.Event,
    lifecycle: Lifecycle,
) -> int:
    """Serve until a stop signal, a takeover by a new process (or the API or failover
    dies), then drain and stop."""
    waiters: set[asyncio.Task[Any]] = {asyncio.create_task(stop_requested.wait())}
    api_task = asyncio.create_task(balancer.serve_api()) if balancer.api_url else None
    if api_task is not None:
        waiters.add(api_task)
    failover_task = None
    # `fastlb ctl node drain` ends like SIGTERM once the connections are gone (the drain
    # runs on a thread of its own: hand the stop to this loop).
    loop = asyncio.get_running_loop()
    balancer.on_drained = lambda: loop.call_soon_threadsafe(stop_requested.set)
    if balancer.config.failover is not None or balancer.config.bgp is not None:
        failover_task = asyncio.create_task(balancer.serve_failover())
        waiters.add(failover_task)
    helpers = [
        asyncio.create_task(_reload_on_sighup(balancer, reload_requested, notifier)),
        asyncio.create_task(lifecycle.serve_upgrades(balancer, stop_requested)),
        asyncio.create_task(lifecycle.upgrade_on_signal(notifier, _status_line(balancer))),
    ]
    interval = watchdog_interval()
    if notifier.enabled and interval is not None:
        helpers.append(asyncio.create_task(_keep_watchdog_fed(notifier, interval)))
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for helper in helpers:
        helper.cancel()
    handed_over = lifecycle.handed_over
    if not handed_over:
        # The drain may take drain_timeout; the API and failover get a few seconds more.
        # (After a takeover the new process is the service: systemd must not see a stop.)
        notifier.stopping("draining", needs=balancer.config.drain_timeout + STOP_MARGIN)

    status = EXIT_OK
    if api_task is not None and api_task.done():
        log.error("the API stopped unexpectedly: %r", api_task.exception())
        status = EXIT_FAILURE
    if failover_task is not None and failover_task.done():
        log.error("failover stopped unexpectedly: %r", failover_task.exception())
        status = EXIT_FAILURE
    # Draining blocks for up to drain_timeout: keep the loop (and the API) responsive.
    await asyncio.to_thread(lambda: balancer.stop(handed_over=handed_over))
    for task in (api_task, failover_task):
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
    await asyncio.gather(*helpers, return_exceptions=True)
    return status


async def _reload_on_sighup(
    balancer: LoadBalancer, requested: asyncio.Event, notifier: Notifier
) -> None:
    """Reload the configuration file at each SIGHUP; a bad file is logged and changes nothing.

    Under systemd each reload is framed by RELOADING=1 ... READY=1, also when it fails:
    the old configuration keeps serving, so the service is ready again either way (the
    failure is in the log and in STATUS)."""
    while True:
        await requested.wait()
        requested.clear()
        notifier.reloading(f"reloading {balancer.config_file}")
        log.info("SIGHUP: reloading %s", balancer.config_file)
        try:
            # Off the loop: reading the file and resolving host names may block.
            changes = await asyncio.to_thread(balancer.reload)
        except ConfigError as exc:
            for line in exc.lines():
                log.error("reload failed, keeping the running configuration: %s", line)
            notifier.ready("last reload failed, see the log; " + _status_line(balancer))
        except Exception:
            log.exception("reload failed, keeping the running configuration")
            notifier.ready("last reload failed, see the log; " + _status_line(balancer))
        else:
            log.info("reload done: %d changes", len(changes))
            notifier.ready(_status_line(balancer))


async def _keep_watchdog_fed(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 every `interval` seconds while the control plane's loop runs (WatchdogSec=)."""
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)


def _status_line(balancer: LoadBalancer) -> str:
    """The STATUS= text `systemctl status` shows: what listens where."""
    listening = ", ".join(f"{name} on {address}" for name, address in balancer.addresses.items())
    return f"serving {listening}" if listening else "serving"


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    logs.configure(logging.INFO)
    return run_demo(duration=args.duration, switchover_after=args.switchover_after)


def _version(args: argparse.Namespace) -> int:
    try:
        from . import _core
    except ImportError as exc:
        print(f"fastlb: the native core is not built ({exc})", file=sys.stderr)
        return EXIT_FAILURE
    info = _core.build_info()
    if args.json:
        print(json.dumps(info))
        return EXIT_OK
    print(f"fastlb {info['version']}")
    print(f"commit: {info['commit']}")
    print(f"profile: {info['profile']}")
    print(f"features: {', '.join(info['features'])}")
    print(f"target: {info['target']}")
    print(f"rustc: {info['rustc']}")
    return EXIT_OK


def _import_haproxy(args: argparse.Namespace) -> int:
    from .haproxy_import import import_file, to_yaml

    try:
        result = import_file(args.haproxy_cfg)
    except OSError as exc:
        print(f"{args.haproxy_cfg}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    for line in result.report.lines():
        print(line, file=sys.stderr)
    if result.config is None:
        return EXIT_CONFIG
    text = to_yaml(result)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK if result.valid else EXIT_CONFIG


def _stats(args: argparse.Namespace) -> int:
    if args.digests:
        from .digests_view import run_digests  # rich is only needed here

        return run_digests(args.api, args.interval, args.once, args.sort, max(1, args.limit))
    from .stats_view import run_stats

    return run_stats(args.api, args.interval, args.once)


# --------------------------------------------------------------------------- helpers


def _interval(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:  # pydantic's PydanticCustomError is a ValueError
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be longer than 0s")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
