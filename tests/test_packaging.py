"""What ships to other machines: the release wheel (`make wheel`) installed where there is no
Rust toolchain, and the systemd unit (packaging/fastlb.service).

The wheel tests (marker `wheel`) run `make wheel` first: a no-op while dist/ holds a wheel
newer than every source at the same commit, minutes of compiling otherwise (a full release
build with zig, in target/wheel). `pytest -m "not wheel"` leaves them out.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from demo_checks import check_demo
from packaging.utils import parse_wheel_filename

import fastlb
from support import fastlb_command

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "fastlb.service"
# The oldest glibc among the distributions the wheel must install on: RHEL 8 and Debian 10
# (2.28; Ubuntu 20.04 has 2.31). The wheel is built for 2.17, which is older still.
OLDEST_GLIBC = (2, 28)
WHEEL_BUILD_TIMEOUT = 1800  # a build from scratch on a busy 2-core machine
INSTALL_TIMEOUT = 600

wheel_test = pytest.mark.wheel


@pytest.fixture(scope="module")
def wheel() -> Path:
    """dist/'s wheel, built (or found up to date) by `make wheel`."""
    result = subprocess.run(
        ["make", "--no-print-directory", "wheel"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WHEEL_BUILD_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = sorted((ROOT / "dist").glob("fastlb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv_without_cargo(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no access to this one's packages) with the wheel installed by pip, from a
    PATH that has no cargo or rustc on it: pip must not fall back to building from source."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(venv)], check=True, timeout=120)
    env = clean_env(venv)
    assert shutil.which("cargo", path=env["PATH"]) is None
    assert shutil.which("rustc", path=env["PATH"]) is None
    result = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            str(wheel),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a user who has this venv and system tools, and no Rust."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CARGO", "RUST"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYO3_PYTHON", None)
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return env


@wheel_test
@pytest.mark.timeout(WHEEL_BUILD_TIMEOUT)
def test_wheel_tags_and_contents(wheel: Path) -> None:
    name, version, _, tags = parse_wheel_filename(wheel.name)
    assert (name, str(version)) == ("fastlb", fastlb.__version__)
    assert {(tag.interpreter, tag.abi) for tag in tags} == {("cp311", "abi3")}
    for tag in tags:
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64|manylinux2014_x86_64", tag.platform)
        assert match, tag.platform
        if match.group(1):
            assert (int(match.group(1)), int(match.group(2))) <= OLDEST_GLIBC
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        extension = archive.read("fastlb/_core.abi3.so")
    for expected in (
        "fastlb/__init__.py",
        "fastlb/cli.py",
        "fastlb/py.typed",
        "fastlb/_core.pyi",
        "fastlb/api/static/dashboard.html",
        "fastlb/api/static/dashboard.css",
        "fastlb/api/static/dashboard.js",
        "fastlb/api/static/dashboard_bgp.js",
        "fastlb/api/static/dashboard_charts.js",
        "fastlb/api/static/dashboard_digests.js",
        "fastlb/api/static/dashboard_mysql.js",
        "fastlb/api/static/dashboard_vrrp.js",
        # The shared harness the demo runs on (and tests, bench, load tests import).
        "fastlb/harness/__init__.py",
        "fastlb/harness/mariadb.py",
        "fastlb/harness/replication.py",
        "fastlb/harness/backends/echo_process.py",
    ):
        assert expected in names, expected
    assert not any(n.endswith((".pyc", "cpython-311-x86_64-linux-gnu.so")) for n in names)
    # The newest glibc symbol version the extension needs must not exceed its tag's.
    assert max_glibc_version(extension) <= (2, 17)


def max_glibc_version(elf: bytes) -> tuple[int, ...]:
    versions = {
        tuple(int(part) for part in v.split(b".")) for v in re.findall(rb"GLIBC_([\d.]+)\0", elf)
    }
    assert versions, "no GLIBC symbol versions: not a glibc-linked extension?"
    return max(versions)


@wheel_test
@pytest.mark.timeout(WHEEL_BUILD_TIMEOUT + INSTALL_TIMEOUT)
def test_fastlb_version_from_the_wheel(venv_without_cargo: Path) -> None:
    result = subprocess.run(
        [str(venv_without_cargo / "bin" / "fastlb"), "version", "--json"],
        env=clean_env(venv_without_cargo),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["version"] == fastlb.__version__
    assert info["profile"] == "release"
    assert {"abi3", "python"} <= set(info["features"])
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    if head:  # a checkout: the wheel says which commit it was built from
        assert info["commit"].removesuffix("-dirty") == head
    plain = subprocess.run(
        [str(venv_without_cargo / "bin" / "fastlb"), "version"],
        env=clean_env(venv_without_cargo),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.stdout.startswith(f"fastlb {fastlb.__version__}\n")
    assert f"commit: {info['commit']}" in plain.stdout


EMBEDDING_EXAMPLE = textwrap.dedent(
    """
    import http.server, threading, urllib.request
    import fastlb

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello through fastlb"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = {
        "workers": 1,
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [{"name": "web", "servers": [
            {"name": "web-01", "address": f"127.0.0.1:{server.server_address[1]}"}]}],
    }
    with fastlb.LoadBalancer(config) as lb:
        url = f"http://{lb.addresses['web']}/"
        print(urllib.request.urlopen(url, timeout=10).read().decode())
        print(lb.stats()["backends"]["web"]["servers"]["web-01"]["total_connections"])
    print(fastlb.__file__)
    server.shutdown()
    """
)


@wheel_test
@pytest.mark.timeout(WHEEL_BUILD_TIMEOUT + INSTALL_TIMEOUT)
def test_embedding_example_from_the_wheel(venv_without_cargo: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(venv_without_cargo / "bin" / "python"), "-c", EMBEDDING_EXAMPLE],
        env=clean_env(venv_without_cargo),
        cwd=tmp_path,  # not the checkout: `import fastlb` must find the installed one
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    body, connections, module = result.stdout.splitlines()
    assert body == "hello through fastlb"
    assert connections == "1"
    assert Path(module).is_relative_to(venv_without_cargo)


@wheel_test
@pytest.mark.timeout(WHEEL_BUILD_TIMEOUT + INSTALL_TIMEOUT)
def test_demo_from_the_wheel(venv_without_cargo: Path) -> None:
    """`fastlb demo` as the wheel installed it, with no checkout and no Rust: the web tier in
    HTTP mode with its HTTPS redirect and the MariaDB pair, the same checks as test_cli's."""
    fastlb_bin = venv_without_cargo / "bin" / "fastlb"
    check_demo([str(fastlb_bin), "demo", "--duration", "8"], env=clean_env(venv_without_cargo))


def newer_pythons() -> list[str]:
    """CPython 3.12+ interpreters on this machine (PATH or pyenv), each minor version once."""
    found: dict[str, str] = {}
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 16)]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob("3.1[2-9]*/bin/python3.1[2-9]"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            found.setdefault(probe.stdout.strip(), candidate)
    return list(found.values())


LOAD_CORE = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("fastlb._core", sys.argv[1])
    core = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core)
    wrr = core.WeightedRoundRobin({"a": 2, "b": 1})
    print(core.build_info()["version"], "".join(wrr.pick() for _ in range(3)))
    """
)


@wheel_test
@pytest.mark.timeout(WHEEL_BUILD_TIMEOUT)
def test_abi3_extension_loads_on_newer_pythons(wheel: Path, tmp_path: Path) -> None:
    """One wheel for 3.11 and later: the same `_core.abi3.so` loads in each newer CPython
    found here (the package's dependencies aren't installed there: the core alone)."""
    pythons = newer_pythons()
    if not pythons:
        pytest.skip("no CPython >= 3.12 on this machine")
    with zipfile.ZipFile(wheel) as archive:
        extension = Path(archive.extract("fastlb/_core.abi3.so", tmp_path))
    for python in pythons:
        result = subprocess.run(
            [python, "-c", LOAD_CORE, str(extension)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (python, result.stderr)
        assert result.stdout.split() == [fastlb.__version__, "aba"], python


def test_version_prints_build_metadata() -> None:
    """The development build answers the same questions (no wheel needed)."""
    result = subprocess.run(
        [*fastlb_command(), "version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"fastlb {fastlb.__version__}"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert {"commit", "profile", "features", "target", "rustc"} <= fields.keys()
    assert "python" in fields["features"].split(", ")


# --------------------------------------------------------------------------- the unit file


def systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: `make system-deps` installs it (package systemd)")
    return tool


def test_unit_file_verifies(tmp_path: Path) -> None:
    """`systemd-analyze verify` with the unit's /opt/fastlb/bin/fastlb pointed at this
    environment's (verify also checks that ExecStart's program exists). It exits 0 even for
    unknown keys or bad values, which it only prints: any output fails the test."""
    fastlb = shutil.which("fastlb") or fastlb_command()[0]
    unit = tmp_path / "fastlb.service"
    text = UNIT.read_text()
    assert "/opt/fastlb/bin/fastlb" in text
    unit.write_text(text.replace("/opt/fastlb/bin/fastlb", fastlb))
    result = subprocess.run(
        [systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_unit_file_verify_catches_mistakes(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported."""
    unit = tmp_path / "fastlb.service"
    unit.write_text(
        UNIT.read_text()
        .replace("/opt/fastlb/bin/fastlb", "/bin/true")
        .replace("Type=notify", "Type=notify\nProtectSystm=strict")
    )
    result = subprocess.run(
        [systemd_analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "ProtectSystm" in result.stderr


def test_unit_file_settings() -> None:
    """What the unit promises: notify, reload as an upgrade (SIGUSR2; the new process reports
    MAINPID=, hence NotifyAccess=all), the three capabilities, hardening."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    assert settings["Type"] == ["notify"]
    assert settings["ExecReload"][-1] == "/bin/kill -USR2 $MAINPID"
    assert settings["NotifyAccess"] == ["all"]
    assert set(settings["AmbientCapabilities"][0].split()) == {
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_NET_BIND_SERVICE",
    }
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert settings[key] == [value], key
    assert "/var/log/fastlb" in settings["ReadWritePaths"]


def test_unit_file_hardening_score(tmp_path: Path) -> None:
    """`systemd-analyze security` rates the unit's sandbox (0 = locked down, 10 = exposed);
    the unit scores 2.1 ("OK"). A hardening setting dropped by mistake raises the score."""
    unit = tmp_path / "fastlb.service"
    unit.write_text(UNIT.read_text().replace("/opt/fastlb/bin/fastlb", "/bin/true"))
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for fastlb\.service: ([\d.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout
