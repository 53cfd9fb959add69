"""A private MariaDB server (Debian's mariadb-server) for tests, benchmarks and the demo.

Every instance has its own temporary datadir, its own free TCP port on 127.0.0.1, its own unix
socket, pid file and error log, and is started with `--no-defaults`: it never reads the
machine's option files and never touches the machine's own MariaDB (port 3306, /var/lib/mysql,
/run/mysqld). It is started and stopped by its pid only.

Initialising a datadir (`mariadb-install-db`) takes seconds, so it is done once per test
session into a *template*, which every instance copies (a fraction of a second). The template
has the real grant tables (no `--skip-grant-tables`):

- `root@localhost` without a password, for administration over the instance's unix socket
  (`MariaDB.sql()`);
- `USER@'%'` identified by `PASSWORD` with all privileges, for clients over TCP.

The pytest fixtures `mariadb` and `mariadb_template` (tests/integration/mariadb.py) wrap it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .ports import free_port
from .sockets import recv_exact

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"
CLIENT = "mariadb"
MISSING_HINT = (
    "`make install` installs Debian's mariadb-server (it provides /usr/sbin/mariadbd, "
    "mariadb-install-db and the mariadb client)"
)

USER = "fastlb_test"
PASSWORD = "fastlb-test-secret"

# The machine's own server: never ours.
SYSTEM_PORT = 3306

INSTALL_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
CLIENT_TIMEOUT = 10.0

# Small and quick: a test server holds a handful of rows at most. The same InnoDB settings
# for the bootstrap and every start.
SERVER_OPTIONS = (
    "--skip-log-bin",
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=8M",
    "--loose-innodb-use-native-aio=0",
    "--character-set-server=utf8mb4",
)


class MariaDBMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class Binaries:
    mariadbd: str
    install_db: str
    client: str


def find_binaries() -> Binaries:
    """The server, the installer and the client, or MariaDBMissingError naming the package."""
    mariadbd = MARIADBD if os.access(MARIADBD, os.X_OK) else shutil.which("mariadbd")
    install_db = shutil.which(INSTALL_DB)
    client = shutil.which(CLIENT)
    missing = [
        name
        for name, path in (("mariadbd", mariadbd), (INSTALL_DB, install_db), (CLIENT, client))
        if not path
    ]
    if missing or not (mariadbd and install_db and client):
        raise MariaDBMissingError(
            f"MariaDB needs {', '.join(missing)}, not found (looked in {MARIADBD} and PATH): "
            f"{MISSING_HINT}"
        )
    return Binaries(mariadbd, install_db, client)


def _user_option() -> list[str]:
    """`--user=NAME` only when running as root (mariadbd refuses to run as root without it;
    as anyone else the option is an error for the installer and moot for the server)."""
    if os.geteuid() != 0:
        return []
    return [f"--user={pwd.getpwuid(os.geteuid()).pw_name}"]


def read_greeting(host: str, port: int, timeout: float = 1.0) -> bytes:
    """Connects and returns the first MySQL packet's payload (b'\\x0a...' = a handshake,
    b'\\xff...' = an error packet). OSError if nothing complete arrives within `timeout`."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        header = recv_exact(sock, 4)
        length = int.from_bytes(header[:3], "little")
        return recv_exact(sock, length)


# The bootstrap runs without grant tables loaded: FLUSH PRIVILEGES loads them, so that
# CREATE USER works.
TEST_USER_SQL = f"""FLUSH PRIVILEGES;
CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';
GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';
"""


def install_template(binaries: Binaries, datadir: Path, sql: str = TEST_USER_SQL) -> None:
    """Initialises `datadir` with mariadb-install-db (real grant tables) and runs `sql` in its
    bootstrap (by default: the test user). Bounded; on a timeout or Ctrl-C the installer's
    whole process group is killed (it runs `mariadbd --bootstrap` as a child)."""
    extra_sql = datadir.parent / "bootstrap.sql"
    extra_sql.write_text(sql)
    log = datadir.parent / "install.log"
    # A private tmpdir: a starting mariadbd deletes every `#sql*` file in its tmpdir, which
    # would break concurrent bootstraps (and the machine's own server's temporary tables).
    tmpdir = datadir.parent / "tmp"
    tmpdir.mkdir(exist_ok=True)
    command = [
        binaries.install_db,
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        f"--extra-file={extra_sql}",
        f"--tmpdir={tmpdir}",
        *_user_option(),
        *SERVER_OPTIONS,
    ]
    with log.open("wb") as out:
        installer = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        status = installer.wait(INSTALL_TIMEOUT)
    except BaseException:  # a timeout, or Ctrl-C
        kill_group(installer)
        raise
    if status != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {status}:\n{log.read_text(errors='replace')}"
        )


def kill_group(leader: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group of `leader` (started in a session of its own), then a
    bounded wait until none of its members is left to write into a directory about to be
    removed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()
    deadline = time.monotonic() + STOP_TIMEOUT
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(leader.pid, 0)
            time.sleep(0.05)


class MariaDB:
    """One private mariadbd process: a copy of the template datadir under `workdir`."""

    def __init__(
        self,
        binaries: Binaries,
        template: Path,
        workdir: Path,
        *,
        port: int | None = None,
        options: Sequence[str] = (),
        host: str = "127.0.0.1",
        own_session: bool = False,
    ) -> None:
        self.binaries = binaries
        # In a session of its own, a Ctrl-C in the terminal reaches only the program that
        # started the server (`fastlb demo`), which then stops it in its own order.
        self.own_session = own_session
        self.workdir = workdir
        self.datadir = workdir / "data"
        shutil.copytree(template, self.datadir, symlinks=True)
        self.port = port if port is not None else free_port()
        if self.port == SYSTEM_PORT:
            raise ValueError("port 3306 belongs to the machine's own MariaDB")
        # Loopback unless a test gave an address of its own network (e.g. a veth into its
        # network namespaces); never a machine-wide address.
        self.host = host
        self.address = f"{self.host}:{self.port}"
        self.socket_path = workdir / "mariadb.sock"
        self.pid_file = workdir / "mariadb.pid"
        self.error_log = workdir / "error.log"
        self.output_path = workdir / "output.log"
        self.tmpdir = workdir / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.user = USER
        self.password = PASSWORD
        self.options = list(options)
        self.proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [
            self.binaries.mariadbd,
            "--no-defaults",  # must come first
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.error_log}",
            f"--tmpdir={self.tmpdir}",  # private: see install_template
            *_user_option(),
            *SERVER_OPTIONS,
            *self.options,
        ]

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> MariaDB:
        """Starts mariadbd (same port and datadir on every start) and waits until it greets."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def spawn(self) -> MariaDB:
        """Starts mariadbd without waiting (`wait_ready` then), so servers can boot together."""
        assert not self.running(), "mariadbd is already running"
        if self._output is None:
            self._output = self.output_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=self.own_session,
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Bounded poll until a TCP connection gets a protocol-10 handshake."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if (code := self.popen.poll()) is not None:
                raise RuntimeError(f"mariadbd exited with {code} while starting:\n{self.log()}")
            try:
                greeting = read_greeting(self.host, self.port, timeout=0.5)
            except OSError as error:
                last = error
            else:
                if greeting[:1] == b"\x0a":
                    return
                last = greeting
            time.sleep(0.05)
        raise TimeoutError(
            f"mariadbd on {self.address} not ready after {timeout}s (last: {last!r}):\n{self.log()}"
        )

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None, "mariadbd was not started"
        return self.proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (a clean shutdown) by pid, a bounded wait, then SIGKILL. Returns the exit
        status (None if it was not running)."""
        if not self.running():
            return None if self.proc is None else self.proc.returncode
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL by pid and reap."""
        if not self.running():
            return None if self.proc is None else self.proc.returncode
        self.popen.kill()
        return self.popen.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Teardown: stop the server, close the output log."""
        try:
            self.stop()
        finally:
            if self._output is not None:
                self._output.close()
                self._output = None

    # --- clients ---------------------------------------------------------------------------

    def client_command(self, *args: str, tcp_port: int | None = None) -> list[str]:
        """The `mariadb` client: as root over this server's socket, or (with `tcp_port`) as
        the test user over TCP to 127.0.0.1:tcp_port (e.g. a proxy in front of this server).
        The password travels in MYSQL_PWD (see `client_env`), never on the command line."""
        if tcp_port is None:
            target = ["--protocol=SOCKET", f"--socket={self.socket_path}", "--user=root"]
        else:
            target = [
                "--protocol=TCP",
                f"--host={self.host}",
                f"--port={tcp_port}",
                f"--user={self.user}",
            ]
        return [self.binaries.client, "--no-defaults", *target, "--batch", *args]

    def client_env(self, password: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["MYSQL_PWD"] = self.password if password is None else password
        return env

    def sql(self, statement: str, timeout: float = CLIENT_TIMEOUT) -> str:
        """Runs SQL as root over the socket; returns the tab-separated output."""
        return self._run_client(("--skip-column-names", "-e", statement), timeout)

    def sql_rows(self, statement: str, timeout: float = CLIENT_TIMEOUT) -> list[dict[str, str]]:
        """Runs one query as root over the socket; its rows as column -> value (as text)."""
        lines = self._run_client(("-e", statement), timeout).splitlines()
        if not lines:
            return []
        header = lines[0].split("\t")
        return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]

    def _run_client(self, args: Sequence[str], timeout: float) -> str:
        statement = args[-1]
        result = subprocess.run(
            self.client_command(*args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            env={k: v for k, v in os.environ.items() if k != "MYSQL_PWD"},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb -e {statement!r} exited with {result.returncode}: "
                f"{result.stderr.decode(errors='replace')}"
            )
        return result.stdout.decode()

    def log(self) -> str:
        parts = []
        for path in (self.error_log, self.output_path):
            with contextlib.suppress(OSError):
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


@dataclass(frozen=True)
class Template:
    """An initialised datadir (see install_template) that MariaDB instances copy."""

    binaries: Binaries
    datadir: Path


def sysbench_command(script: str, port: int, command: str, *options: str) -> list[str]:
    """sysbench's mysql driver against 127.0.0.1:`port` as the test user, database sbtest."""
    return [
        "sysbench",
        script,
        "--db-driver=mysql",
        "--mysql-host=127.0.0.1",
        f"--mysql-port={port}",
        f"--mysql-user={USER}",
        f"--mysql-password={PASSWORD}",
        "--mysql-db=sbtest",
        *options,
        command,
    ]
