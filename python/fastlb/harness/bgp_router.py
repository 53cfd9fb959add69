"""The fleet's router in its namespace: FRR (zebra + bgpd, bfdd with BFD) or BIRD 2, both
installing one multipath route to the virtual IP, a next hop per node that announces it.
The configurations are the README's ("Scaling out"), with test timers (hold time 3 s)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from fastlb.harness.netns import Lab
from fastlb.harness.waiting import wait_for

FRR = Path("/usr/lib/frr")

__all__ = ["FRR", "Router", "bird_router_config", "frr_configs"]


def frr_configs(router_id: str, local_as: int, peers: dict[str, int], bfd: bool) -> dict[str, str]:
    """FRR's daemon files: name -> text. `peers`: node address -> its AS."""
    neighbors = "".join(
        f" neighbor {address} remote-as {asn}\n"
        f" neighbor {address} timers 1 3\n"
        f" neighbor {address} timers connect 1\n"
        + (f" neighbor {address} bfd\n neighbor {address} bfd profile fast\n" if bfd else "")
        for address, asn in peers.items()
    )
    return {
        "zebra.conf": "hostname router\n",
        # The nodes' BIRD asks for 100 ms x 3 too (python/fastlb/bgp/bird.py): a dead node
        # is noticed after 0.3 s of silence instead of the 3 s hold time.
        "bfdd.conf": "hostname router\nbfd\n profile fast\n  receive-interval 100\n"
        "  transmit-interval 100\n  detect-multiplier 3\n",
        "bgpd.conf": "hostname router\n"
        f"router bgp {local_as}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n"
        # Each node has its own AS: only multipath-relax makes their paths equal.
        " bgp bestpath as-path multipath-relax\n"
        f"{neighbors} address-family ipv4 unicast\n  maximum-paths 16\n exit-address-family\n",
    }


def bird_router_config(router_id: str, local_as: int, peers: dict[str, int]) -> str:
    """BIRD 2 as the router: the nodes' routes imported, merged into one multipath route
    (`merge paths`: BGP paths equal up to the neighbour's AS and address) in the kernel."""
    sessions = "".join(
        f"protocol bgp node{index} {{\n"
        f"  local {router_id} as {local_as};\n"
        f"  neighbor {address} as {asn};\n"
        "  hold time 3; keepalive time 1; connect retry time 1;\n"
        "  ipv4 { import all; export none; };\n"
        "}\n"
        for index, (address, asn) in enumerate(peers.items())
    )
    return (
        f"router id {router_id};\n"
        "protocol device { scan time 10; }\n"
        "protocol kernel {\n  ipv4 { import none; export all; };\n  merge paths on;\n}\n"
        f"{sessions}"
    )


class Router:
    """The router daemons, spawned in the lab's `router` namespace (killed by the lab)."""

    def __init__(self, lab: Lab, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir
        # Outside workdir: FRR's daemons run as `frr`, which cannot enter pytest's 0700 dirs.
        self.dir = Path(tempfile.mkdtemp(prefix="fastlb-router-"))
        self.dir.chmod(0o755)

    def start_frr(self, configs: dict[str, str], bfd: bool) -> None:
        for name, text in configs.items():
            (self.dir / name).write_text(text)
        # The daemons drop to the `frr` user, which must own their files and sockets.
        user = pwd.getpwnam("frr")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        for path in self.dir.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
        common = ["-z", str(self.dir / "zserv.api"), "--vty_socket", str(self.dir), "-P", "0"]
        common += ["-u", "frr", "-g", "frr", "--log", "stdout"]
        # bgpd registers its BFD sessions with bfdd through zebra: bfdd starts before bgpd.
        for daemon in ("zebra", "bfdd", "bgpd") if bfd else ("zebra", "bgpd"):
            argv = [str(FRR / daemon), "-f", str(self.dir / f"{daemon}.conf"), *common]
            argv += ["-i", str(self.dir / f"{daemon}.pid")]
            if daemon == "bfdd":  # its own control socket, not the system's /var/run/frr
                argv += ["--bfdctl", str(self.dir / "bfdd.sock")]
            self.lab.spawn("router", argv, self.workdir / f"router-{daemon}.log")
            if daemon == "zebra":
                wait_for((self.dir / "zserv.api").exists, 10, "zebra's zserv socket")

    def start_bird(self, config: str) -> None:
        conf = self.dir / "bird.conf"
        conf.write_text(config)
        program = shutil.which("bird") or shutil.which("bird", path="/usr/sbin:/sbin") or "bird"
        argv = [program, "-f", "-c", str(conf), "-s", str(self.dir / "bird.ctl")]
        self.lab.spawn("router", argv, self.workdir / "router-bird.log")
        wait_for((self.dir / "bird.ctl").exists, 10, "the router's BIRD control socket")

    def vtysh(self, command: str) -> str:
        done = subprocess.run(
            ["vtysh", "--vty_socket", str(self.dir), "-c", command],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"vtysh -c {command!r}: {done.stderr.strip() or done.stdout}")
        return done.stdout

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
