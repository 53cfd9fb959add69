"""Two real `fastlb serve` daemons as a real VRRPv3 pair, each with `mysql.failover` mode
auto, in front of the real MariaDB trio: only the node that holds the virtual IP promotes
when the primary is killed; partitioned from each other (both MASTER), they still leave one
primary.

Where things run, and why: each daemon is in a network namespace of its own (VRRP needs a
segment, and each node its own interface for the virtual IP), on a bridge
(python/fastlb/harness/netns.py). The MariaDB servers stay in the root namespace, where the tests'
MariaDB harness, the replication between them and `kill -9` by pid work as everywhere else;
they listen on `DB_ADDRESS`, the root namespace's end of a veth whose other end is a port of
the same bridge (a daemon in a namespace cannot reach the root namespace's 127.0.0.1). That
veth and its subnet exist only for the test and go with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from fastlb.harness.netns import Lab, ip

from . import mariadb as mariadb_helpers
from .clients import wait_until
from .mariadb import Template
from .replication import APP_PASSWORD, APP_USER
from .replication_trio import NAMES, ReplicationTrio, fastlb_config

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(240)

# A subnet of the test's own (the machine has none of 10.0.0.0/8 on its interfaces).
SUBNET = "10.79.14"
NODES = {"lb1": (f"{SUBNET}.11", 150), "lb2": (f"{SUBNET}.12", 100)}
DB_ADDRESS = f"{SUBNET}.201"
VIP = f"{SUBNET}.50"
API = "http://127.0.0.1:9100"  # inside each node's namespace
SQL_PORT = 6033
SETTLE = 30.0
SERVER_IDS = {"db1": 1, "db2": 2, "db3": 3}


class Node:
    """`fastlb serve` in a namespace: VRRP on eth0 plus the trio's backend."""

    def __init__(self, lab: Lab, trio: ReplicationTrio, host: str, workdir: Path) -> None:
        _, priority = NODES[host]
        self.lab, self.host = lab, host
        config = fastlb_config(trio, "auto")
        config["api"]["listen"] = API.removeprefix("http://")
        config["frontends"][0]["listen"] = f"0.0.0.0:{SQL_PORT}"
        config["failover"] = {
            "interface": "eth0",
            "vrid": 61,
            "priority": priority,
            "advert_interval": "100ms",
            "virtual_ips": [f"{VIP}/24"],
        }
        self.config_path = workdir / f"{host}.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = workdir / f"{host}.log"
        fastlb = str(Path(sys.executable).with_name("fastlb"))
        self.proc = lab.spawn(host, [fastlb, "serve", "-c", str(self.config_path)], self.log_path)

    def stats(self) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            with urllib.request.urlopen(API + "/api/stats", timeout=3) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]

        return self.lab.run_in(self.host, call)

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"fastlb on {self.host} exited:\n{self.log()}")
        try:
            stats = self.stats()
        except (OSError, ValueError):
            return False
        return "failover" in stats and (stats.get("mysql_topology") or {}).get("db") is not None

    def vrrp_state(self) -> str:
        return str(self.stats()["failover"]["state"])

    def topology(self) -> dict[str, Any]:
        topology: dict[str, Any] = self.stats()["mysql_topology"]["db"]
        return topology

    def event_kinds(self) -> list[str]:
        return [event["kind"] for event in self.topology().get("events") or []]

    def log(self) -> str:
        return f"--- fastlb on {self.host} ---\n{self.log_path.read_text(errors='replace')}"


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces and raw VRRP sockets need root (CI runs as root)")
    built = Lab(tag="db")
    root_end = f"fldb{os.getpid() % 100000}"
    try:
        for host, (address, _) in NODES.items():
            built.host(host, address)
        # The root namespace's own port on the segment, for the MariaDB servers.
        ip("link", "add", root_end, "type", "veth", "peer", "name", "p-db", "netns", built.switch)
        ip("-n", built.switch, "link", "set", "p-db", "master", "br0")
        ip("-n", built.switch, "link", "set", "p-db", "up")
        ip("addr", "add", f"{DB_ADDRESS}/24", "dev", root_end)
        ip("link", "set", root_end, "up")
        yield built
    finally:
        built.close()  # the switch namespace goes, and the veth pair with it
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", root_end)


@pytest.fixture
def trio(lab: Lab, mariadb_template: Template) -> Iterator[ReplicationTrio]:
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-vrrp-trio-"))
    started = ReplicationTrio(mariadb_template, workdir, host=DB_ADDRESS)
    try:
        yield started.start()
    finally:
        try:
            started.close()
            print(started.log())
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pair() -> Iterator[list[Node]]:
    """The nodes a test starts (their processes end with the lab); logs printed after."""
    nodes: list[Node] = []
    try:
        yield nodes
    finally:
        for node in nodes:
            print(node.log())


def start(lab: Lab, trio: ReplicationTrio, nodes: list[Node], tmp_path: Path) -> None:
    """lb1 (priority 150) and lb2 (100), multicast adverts every 100 ms."""
    trio["db1"].sql("CREATE TABLE fastlb.w (id INT PRIMARY KEY, node VARCHAR(8))")
    trio.wait_replicated("db1")
    for host in NODES:
        nodes.append(Node(lab, trio, host, tmp_path))
    for node in nodes:
        assert wait_until(node.ready, SETTLE), node.log()


def drop_vrrp(lab: Lab, host: str) -> None:
    """nftables in `host`'s namespace (only there) drops VRRP (IP protocol 112) both ways."""
    rules = (
        "table inet fastlb_partition {\n"
        "  chain in { type filter hook input priority 0; ip protocol 112 drop; }\n"
        "  chain out { type filter hook output priority 0; ip protocol 112 drop; }\n"
        "}\n"
    )
    argv = ["ip", "netns", "exec", lab.namespace(host), "nft", "-f", "-"]
    subprocess.run(argv, input=rules, text=True, check=True, capture_output=True, timeout=10)


def writable(trio: ReplicationTrio) -> list[str]:
    return [name for name in NAMES if trio[name].running() and not trio.read_only(name)]


def write_through(lab: Lab, host: str, row: int) -> int:
    """An INSERT through the virtual IP from `host`'s namespace; the @@server_id that ran it."""

    def call() -> int:
        db = pymysql.connect(
            host=VIP, port=SQL_PORT, user=APP_USER, password=APP_PASSWORD, autocommit=True
        )
        with db, db.cursor() as cursor:
            # In a transaction, so that the SELECT runs where the INSERT did (the primary).
            cursor.execute("BEGIN")
            cursor.execute("INSERT INTO fastlb.w VALUES (%s, %s)", (row, host))
            cursor.execute("SELECT @@server_id")
            (server_id,) = cursor.fetchone() or (0,)
            cursor.execute("COMMIT")
        return int(server_id)

    return lab.run_in(host, call)


def test_only_the_vrrp_master_promotes_when_the_primary_is_killed(
    lab: Lab, trio: ReplicationTrio, pair: list[Node], tmp_path: Path
) -> None:
    start(lab, trio, pair, tmp_path)
    lb1, lb2 = pair
    assert wait_until(lambda: (lb1.vrrp_state(), lb2.vrrp_state()) == ("master", "backup"), SETTLE)
    assert lab.holds("lb1", VIP) and not lab.holds("lb2", VIP)
    assert write_through(lab, "lb2", 1) == 1  # through the VIP, to lb1, to db1
    trio.wait_replicated("db1")

    trio.kill9("db1")
    assert wait_until(lambda: "promoted" in lb1.event_kinds(), SETTLE), lb1.event_kinds()
    promoted = next(e for e in lb1.topology()["events"] if e["kind"] == "promoted")
    # Either replica may be chosen (equal positions go to db2, but one replica's drain can
    # time out on a loaded machine): what matters is that only lb1 chose, and everyone follows.
    new, other = promoted["server"], {"db2": "db3", "db3": "db2"}[promoted["server"]]
    # The BACKUP followed, and did nothing itself.
    assert wait_until(lambda: lb2.topology()["primary"] == new, SETTLE), lb2.topology()
    for _ in range(10):
        assert lb2.event_kinds() == [], lb2.topology()
        assert writable(trio) == [new]
        time.sleep(0.2)
    trio.wait_replicating_from(other, new)
    assert write_through(lab, "lb2", 2) == SERVER_IDS[new]  # writes resume, on the promoted one
    assert lb1.vrrp_state() == "master" and lb2.vrrp_state() == "backup"


def test_partitioned_pair_both_master_still_leaves_one_primary(
    lab: Lab, trio: ReplicationTrio, pair: list[Node], tmp_path: Path
) -> None:
    start(lab, trio, pair, tmp_path)
    lb1, lb2 = pair
    assert wait_until(lambda: (lb1.vrrp_state(), lb2.vrrp_state()) == ("master", "backup"), SETTLE)
    # Cut lb1 and lb2 off from each other only (both still reach the servers): each hears
    # no adverts and is MASTER on its side. VRRP cannot prevent that; the controllers must.
    for host in NODES:
        drop_vrrp(lab, host)
    assert wait_until(lambda: lb2.vrrp_state() == "master", SETTLE)
    assert lb1.vrrp_state() == "master"

    trio.kill9("db1")
    assert wait_until(
        lambda: (
            lb1.topology()["primary"] not in (None, "db1")
            and lb2.topology()["primary"] not in (None, "db1")
        ),
        SETTLE,
    ), (lb1.topology(), lb2.topology())
    # One primary, the same for both nodes, and it stays so.
    new = lb1.topology()["primary"]
    other = {"db2": "db3", "db3": "db2"}[new]
    for _ in range(15):
        assert writable(trio) == [new], (lb1.event_kinds(), lb2.event_kinds())
        assert lb1.topology()["primary"] == lb2.topology()["primary"] == new
        time.sleep(0.2)
    trio.wait_replicating_from(other, new)
    promotions = {node.host: node.event_kinds().count("promoted") for node in pair}
    print(f"promoted events per node while partitioned: {promotions}")
    # Both could act; the failover lock on the replicas let exactly one of them promote.
    assert sorted(promotions.values()) == [0, 1], promotions
    # Each node writes through its own VIP (both hold it): both land on the new primary.
    assert write_through(lab, "lb1", 1) == SERVER_IDS[new]
    assert write_through(lab, "lb2", 2) == SERVER_IDS[new]
    trio.wait_replicated(new)
    checksums = trio.checksums("fastlb.w")
    assert checksums["db2"] == checksums["db3"], checksums
