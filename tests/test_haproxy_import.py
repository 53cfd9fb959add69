"""`fastlb import-haproxy` on real HAProxy configurations: the seed's setup, Debian's and
RHEL's stock files, and the configurations the benchmark and the load tests give HAProxy.

Every test runs the real command and then the real `fastlb check` on what it wrote, and
looks at the translated values and at the report's lines (`FILE:LINE: LEVEL: ...`).
The behaviour round trip (HAProxy and fastlb in front of the same servers) is in
test_haproxy_import_roundtrip.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import fastlb_command

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder, not installed
    sys.path.insert(0, str(REPO))

from bench import configs  # noqa: E402
from bench.certs import write_certificate  # noqa: E402
from bench.locust import mysql_topology  # noqa: E402
from fastlb.haproxy_import.tokenizer import TokenizeError, tokenize_line  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "haproxy"
REPORT_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<level>\w+): (?P<rest>.*)$")


class Imported:
    """One run of `fastlb import-haproxy`: exit status, report, and the YAML it wrote."""

    def __init__(self, cfg: Path, out: Path, env: dict[str, str]) -> None:
        run = subprocess.run(
            [*fastlb_command(), "import-haproxy", str(cfg), "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        self.status = run.returncode
        self.stderr = run.stderr
        self.out = out
        self.env = env
        self.config: dict[str, Any] = yaml.safe_load(out.read_text()) if out.exists() else {}

    def entries(self, line: int) -> list[tuple[str, str]]:
        """(level, rest) of the report lines about this line of the HAProxy file."""
        found = []
        for text in self.stderr.splitlines():
            match = REPORT_LINE.match(text)
            if match and int(match["line"]) == line:
                found.append((match["level"], match["rest"]))
        return found

    def check(self) -> None:
        run = subprocess.run(
            [*fastlb_command(), "check", "-c", str(self.out)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
        )
        assert run.returncode == 0, f"fastlb check failed:\n{run.stderr}\n{self.out.read_text()}"

    def frontend(self, name: str) -> dict[str, Any]:
        return next(f for f in self.config["frontends"] if f["name"] == name)

    def backend(self, name: str) -> dict[str, Any]:
        return next(b for b in self.config["backends"] if b["name"] == name)


def import_cfg(cfg: Path, tmp_path: Path, **env: str) -> Imported:
    return Imported(cfg, tmp_path / "fastlb.yaml", {**os.environ, **env})


# --------------------------------------------------------------------------- the seed


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    """A directory with `site.pem`: certificate and key in one file, as HAProxy's crt wants."""
    directory = tmp_path / "certs"
    directory.mkdir()
    shutil.copy(write_certificate(directory).combined, directory / "site.pem")
    return directory


def test_seed_setup_is_translated(tmp_path: Path, cert_dir: Path) -> None:
    result = import_cfg(FIXTURES / "seed.cfg", tmp_path, CERT_DIR=str(cert_dir))
    assert result.status == 0, result.stderr
    result.check()
    config = result.config
    assert config["workers"] == 2 and config["max_connections"] == 20000
    assert config["api"] == {"listen": "127.0.0.1:18404"}  # the stats listener

    # One HAProxy frontend with a plain and a TLS bind: two fastlb frontends.
    plain, secure = result.frontend("www"), result.frontend("www-18443")
    assert plain["listen"] == "127.0.0.1:18080" and secure["listen"] == "127.0.0.1:18443"
    assert plain["acl"] == {
        "allow": ["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16"],
        "deny": ["10.6.6.6"],
    }
    assert secure["acl"] == plain["acl"]
    assert plain["max_connections"] == 10000 and plain["idle_timeout"] == "30s"
    # `redirect scheme https if !{ ssl_fc }`: everything on the plain bind, nothing on TLS.
    assert plain["http"]["routes"][0] == {"redirect": {"scheme": "https", "code": 301}}
    assert all("redirect" not in route for route in secure["http"]["routes"])
    assert secure["http"]["routes"][:2] == [
        {"match": {"path_prefix": "/api/"}, "backend": "api"},
        {
            "match": {"host": "admin.example.com"},
            "backend": "admin",
            # the admin backend's http-request set-header, on the route to it
            "request_headers": {"set": [["X-Admin", "yes"]]},
        },
    ]
    # ssl crt takes a combined PEM; fastlb gets the same file as cert and key.
    assert secure["tls"] == {
        "cert": "${CERT_DIR}/site.pem",
        "key": "${CERT_DIR}/site.pem",
        "alpn": ["h2", "http/1.1"],
        "min_version": "1.2",
        "session_resumption": False,  # no-tls-tickets + tune.ssl.cachesize 0
    }
    http = secure["http"]
    assert http["request_timeout"] == "10s" and http["keepalive_timeout"] == "5s"
    assert http["forwarded"] == {
        "x_forwarded_for": True,
        "x_forwarded_for_except": ["127.0.0.0/8"],
        "x_forwarded_proto": True,  # the `set-header X-Forwarded-Proto https if { ssl_fc }` idiom
    }
    assert http["request_headers"] == {"remove": ["X-Debug"]}
    assert http["response_headers"] == {
        "set": [["Strict-Transport-Security", "max-age=63072000"]],
        "remove": ["Server"],
    }
    assert http["access_log"] == {"path": "-", "format": "haproxy"}

    web = result.backend("web")
    assert [(s["name"], s.get("weight", 1), s.get("backup", False)) for s in web["servers"]] == [
        ("web-01", 3, False),
        ("web-02", 2, False),
        ("web-03", 1, False),
        ("web-spare", 1, True),
    ]
    assert web["health_check"] == {
        "type": "http",
        "interval": "3s",  # default-server inter 3s
        "fast_interval": "3s",
        "timeout": "2s",  # timeout check
        "rise": 2,
        "fall": 3,
        "observe": False,
        "path": "/health",
        "host": "www.example.com",  # from the HTTP/1.1\r\nHost: trick
        "expect_status": 200,
    }
    assert web["http"] == {"idle_timeout": "5s", "response_timeout": "30s"}
    api = result.backend("api")
    assert api["health_check"]["interval"] == "1s"
    assert api["servers"][1] == {"name": "api-02", "address": "10.0.0.22:8080", "weight": 0}
    admin = result.backend("admin")
    assert admin["send_proxy"] == "v2" and admin["check_send_proxy"] is True
    assert admin["http"]["server_reuse"] is False
    replica = result.backend("mysql-replica")
    assert replica["health_check"]["type"] == "mysql"
    assert replica["health_check"]["user"] == "haproxy_check"
    assert replica["servers"][1] == {
        "name": "db-primary",
        "address": "10.0.0.41:3306",
        "backup": True,
    }
    assert result.frontend("mysql-primary")["idle_timeout"] == "1h"

    assert (
        "unsupported",
        "server web-03 10.0.0.13:80 weight 1 check maxconn 500: maxconn: "
        "fastlb has no per-server connection limit or queue; limit the frontend "
        "(max_connections) or lower the server's weight",
    ) in result.entries(58)
    assert result.entries(62) == [] and result.backend("api")["balance"] == "leastconn"
    assert "weight 0" in result.entries(65)[0][1]
    assert [level for level, _ in result.entries(11)] == ["ignored"]  # daemon
    assert result.stderr.splitlines()[-2:] == [
        f"{FIXTURES / 'seed.cfg'}: translated 4 frontends, 5 backends; 1 unsupported, 7 notes, "
        "5 ignored",
        f"wrote {result.out}",
    ]


def test_combined_pem_is_read_for_the_key_too(tmp_path: Path, cert_dir: Path) -> None:
    """The import gives HAProxy's one PEM file as both cert and key: `fastlb check` (which
    loads them in the core) passes with the combined file and fails with a certificate
    alone, so the key really is read out of that file."""
    pem = (cert_dir / "site.pem").read_text()
    (cert_dir / "site.pem").write_text(pem.split("-----BEGIN PRIVATE KEY-----")[0])
    result = import_cfg(FIXTURES / "seed.cfg", tmp_path, CERT_DIR=str(cert_dir))
    assert result.status == 0
    run = subprocess.run(
        [*fastlb_command(), "check", "-c", str(result.out)],
        capture_output=True,
        text=True,
        env=result.env,
        timeout=60,
    )
    assert run.returncode == 2 and "private key" in run.stderr


# --------------------------------------------------------------------------- stock files


def test_debian_stock_file_has_nothing_to_serve(tmp_path: Path) -> None:
    """Debian's /etc/haproxy/haproxy.cfg has no frontend: exit 2, no file, every line
    accounted for."""
    result = import_cfg(FIXTURES / "debian-stock.cfg", tmp_path)
    assert result.status == 2 and not result.out.exists()
    assert "error: (file): no frontend with a usable backend" in result.stderr
    assert result.entries(9) == [
        (
            "ignored",
            "daemon: fastlb serve runs in the foreground: run it with "
            "packaging/fastlb.service (systemd)",
        )
    ]
    assert result.entries(26)[0][0] == "ignored"  # timeout client 50000, unused defaults
    lines = len((FIXTURES / "debian-stock.cfg").read_text().splitlines())
    reported = {int(m["line"]) for t in result.stderr.splitlines() if (m := REPORT_LINE.match(t))}
    significant = {
        number
        for number, text in enumerate((FIXTURES / "debian-stock.cfg").read_text().splitlines(), 1)
        if text.strip()
        and not text.strip().startswith("#")
        and text.split()[0]
        not in ("global", "defaults", "ca-base", "crt-base", "ssl-default-bind-options")
    }
    assert significant <= reported, sorted(significant - reported)
    assert lines > 30


def test_debian_stock_file_with_a_site_added(tmp_path: Path) -> None:
    """What Debian users do: append a frontend and a backend to the stock file."""
    cfg = tmp_path / "haproxy.cfg"
    stock = (FIXTURES / "debian-stock.cfg").read_text()
    cfg.write_text(
        stock + "\nfrontend site\n\tbind 127.0.0.1:18081\n\tdefault_backend app\n"
        "\nbackend app\n\tserver app1 127.0.0.1:18091 check\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    site = result.frontend("site")
    assert site["mode"] == "http" and site["idle_timeout"] == "50s"  # timeout client 50000
    # No timeout http-request: HAProxy waits for the head up to timeout client.
    assert site["http"]["request_timeout"] == "50s"
    assert site["http"]["forwarded"] == {"x_forwarded_for": False, "x_forwarded_proto": False}
    assert site["http"]["access_log"] == {"path": "-", "format": "haproxy"}
    assert result.backend("app")["connect_timeout"] == "5s"
    assert result.backend("app")["http"]["response_timeout"] == "50s"
    assert "does not send syslog (/dev/log)" in result.entries(2)[0][1]
    assert result.entries(28)[0][0] == "ignored"  # the stock error pages


def test_rhel_stock_example(tmp_path: Path) -> None:
    result = import_cfg(FIXTURES / "rhel-stock.cfg", tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    assert result.config["max_connections"] == 4000
    main = result.frontend("main")
    assert main["listen"] == "0.0.0.0:5000" and main["backend"] == "app"
    assert main["max_connections"] == 3000 and main["idle_timeout"] == "1m"
    http = main["http"]
    assert http["routes"] == [
        {"match": {"path_prefix": prefix}, "backend": "static"}
        for prefix in ("/static", "/images", "/javascript", "/stylesheets")
    ]
    assert (http["request_timeout"], http["keepalive_timeout"]) == ("10s", "10s")
    assert http["forwarded"]["x_forwarded_for_except"] == ["127.0.0.0/8"]
    app = result.backend("app")
    assert [s["address"] for s in app["servers"]] == [f"127.0.0.1:500{i}" for i in range(1, 5)]
    assert app["retries"] == 3 and app["connect_timeout"] == "10s"
    assert app["health_check"]["type"] == "tcp" and app["health_check"]["timeout"] == "10s"
    assert app["http"]["server_reuse"] is False  # option http-server-close
    # url_static: path_beg -i (translated, case-sensitively) OR path_end (lost).
    levels = dict(result.entries(72))
    assert levels["note"].startswith("use_backend static if url_static: path_beg -i:")
    assert "partly translated: acl url_static path_end -i .jpg" in levels["unsupported"]
    assert result.entries(56)[0][0] == "ignored"  # timeout queue


# --------------------------------------------------------------------------- bench, load test


@pytest.mark.parametrize("splice", ["auto", "always", "never"])
def test_benchmark_haproxy_config(tmp_path: Path, splice: str) -> None:
    """bench/configs.py's HAProxy side imports to what bench gives fastlb (fastlb_yaml)."""
    cert = write_certificate(tmp_path)
    servers = [configs.Server("web-01", 18101, 3), configs.Server("web-02", 18102, 1)]
    cfg = tmp_path / "bench.cfg"
    ports = configs.Ports(tcp=18100, tls=18143)
    cfg.write_text(configs.haproxy_cfg(ports, servers, splice, str(cert.combined)))
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    expected = yaml.safe_load(
        configs.fastlb_yaml(ports, 18199, servers, splice, str(cert.combined), str(cert.combined))
    )
    config = result.config
    assert config["workers"] == expected["workers"]
    # Without HAProxy's splice options the import keeps fastlb's default (auto): how bytes
    # are moved is not behaviour, and auto is fastlb's measured best.
    assert config.get("splice", "auto") == ("auto" if splice == "never" else splice)
    for frontend, wanted in zip(config["frontends"], expected["frontends"], strict=True):
        assert frontend["listen"] == wanted["listen"] and frontend["mode"] == "tcp"
        assert frontend.get("tls", {}).get("session_resumption") == (
            wanted.get("tls", {}).get("session_resumption")
        )
    (web,) = [b for b in config["backends"] if b["name"] == "web"]
    assert [(s["address"], s["weight"]) for s in web["servers"]] == [
        (f"127.0.0.1:{s.port}", s.weight) for s in servers
    ]
    assert config["frontends"][0]["idle_timeout"] == "2m"


def test_loadtest_mysql_haproxy_config(tmp_path: Path) -> None:
    cfg = tmp_path / "mysql.cfg"
    cfg.write_text(mysql_topology.haproxy_cfg(18306, 18307, "127.0.0.1:3307", "127.0.0.1:3308"))
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    assert [(f["name"], f["listen"], f["backend"]) for f in result.config["frontends"]] == [
        ("mysql-writer", "127.0.0.1:18306", "mysql-writer"),
        ("mysql-reader", "127.0.0.1:18307", "mysql-reader"),
    ]
    assert result.backend("mysql-reader")["servers"] == [
        {"name": "replica", "address": "127.0.0.1:3308"}
    ]
    assert result.stderr.splitlines()[-2].endswith(
        "translated 2 frontends, 2 backends; no differences"
    )


# --------------------------------------------------------------------------- the report


def test_what_cannot_be_translated_is_reported_by_line(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "userlist admins\n"
        "    user admin insecure-password x\n"
        "defaults\n"
        "    mode http\n"
        "    timeout client 0\n"
        "frontend web\n"
        "    bind 127.0.0.1:18082\n"
        "    bind /run/web.sock\n"
        "    acl admin path_beg /admin\n"
        "    use_backend app if !admin\n"
        "    http-request set-header X-Client %[src]\n"
        "    http-request deny if { src 10.0.0.0/8 }\n"
        "    compression algo gzip\n"
        "    default_backend app\n"
        "backend app\n"
        "    cookie SRV insert\n"
        "    server a 127.0.0.1:18092 cookie a\n"
        "    server b 127.0.0.1\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    assert result.entries(1)[0][0] == "unsupported"  # userlist section
    assert result.entries(2) == []  # reported with its section
    assert "no timeout" in result.entries(5)[0][1]
    assert "TCP addresses only" in result.entries(8)[0][1]
    assert "negated request condition" in result.entries(10)[0][1]
    assert "computed per request" in result.entries(11)[0][1]
    assert result.entries(12)[0][0] == "note"  # 403 vs closed at accept
    assert result.frontend("web")["acl"] == {"allow": [], "deny": ["10.0.0.0/8"]}
    assert result.entries(13) == [
        ("unsupported", "compression algo gzip: not translated: fastlb has no equivalent")
    ]
    assert result.backend("app")["cookie"] == {"name": "SRV", "insert": True}
    assert result.backend("app")["servers"][0]["cookie"] == "a"
    assert "fixed port" in result.entries(18)[0][1]
    assert [s["name"] for s in result.backend("app")["servers"]] == ["a"]
    # Sorted by line, one summary line last.
    numbers = [int(m["line"]) for t in result.stderr.splitlines() if (m := REPORT_LINE.match(t))]
    assert numbers == sorted(numbers)


def test_balance_source_is_translated_with_a_note(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "defaults\n"
        "    mode tcp\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout connect 5s\n"
        "listen web\n"
        "    bind 127.0.0.1:18083\n"
        "    balance source\n"
        "    hash-type consistent\n"
        "    server a 127.0.0.1:18093\n"
        "    server b 127.0.0.1:18094\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    assert result.backend("web")["balance"] == "source"
    [(level, text)] = result.entries(8)
    assert level == "note" and "not the one HAProxy's hash picked" in text, text
    [(level, text)] = result.entries(9)
    assert level == "unsupported" and "always consistent (Maglev)" in text, text


def test_leastconn_and_cookie_persistence_are_translated(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "defaults\n"
        "    mode http\n"
        "    timeout client 30s\n"
        "    timeout server 30s\n"
        "    timeout connect 5s\n"
        "frontend web\n"
        "    bind 127.0.0.1:18083\n"
        "    default_backend app\n"
        "backend app\n"
        "    balance leastconn\n"
        "    cookie SERVERID insert indirect nocache httponly secure domain .example.com\n"
        "    server a 127.0.0.1:18093 cookie s1\n"
        "    server b 127.0.0.1:18094\n"
        "backend other\n"
        "    server c 127.0.0.1:18095 cookie c1\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    app = result.backend("app")
    assert app["balance"] == "leastconn"
    assert result.entries(10) == []
    assert app["cookie"] == {
        "name": "SERVERID",
        "insert": True,
        "nocache": True,
        "httponly": True,
        "secure": True,
    }
    assert [s.get("cookie") for s in app["servers"]] == ["s1", None]
    # `domain` is not kept: said so on the line.
    assert [level for level, _ in result.entries(11)] == ["note"]
    assert "domain .example.com" in result.entries(11)[0][1]
    # A server cookie in a backend without a cookie line is dropped, and reported.
    assert "cookie" not in result.backend("other")["servers"][0]
    assert "server c: cookie without a `cookie` line" in result.stderr


def test_unreadable_and_empty_files_exit_2(tmp_path: Path) -> None:
    missing = import_cfg(tmp_path / "nope.cfg", tmp_path)
    assert missing.status == 2 and "cannot read" in missing.stderr
    empty = tmp_path / "empty.cfg"
    empty.write_text("# nothing\n")
    assert import_cfg(empty, tmp_path).status == 2


def test_output_that_fails_validation_exits_2(tmp_path: Path) -> None:
    """A certificate that is not on this machine: the file is written, the status says
    it is not usable here, and the report says why."""
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "frontend tls\n  bind 127.0.0.1:18443 ssl crt /nonexistent/site.pem\n"
        "  default_backend app\nbackend app\n  server a 127.0.0.1:18093\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 2 and result.out.exists()
    assert "does not pass fastlb check" in result.stderr
    assert "no such file: /nonexistent/site.pem" in result.stderr


# --------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("  server  a 1.2.3.4:80   check # comment", ["server", "a", "1.2.3.4:80", "check"]),
        (
            r"option httpchk GET / HTTP/1.1\r\nHost:\ x",
            ["option", "httpchk", "GET", "/", "HTTP/1.1\r\nHost: x"],
        ),
        ('set-header X "a b # c"', ["set-header", "X", "a b # c"]),
        ("set-header X 'no $ESCAPES \\ here'", ["set-header", "X", "no $ESCAPES \\ here"]),
        ('crt "$HOME/x.pem"', ["crt", "${HOME}/x.pem"]),
        ("crt ${CERTS}/x.pem", ["crt", "${CERTS}/x.pem"]),
        (r"value a\#b\x41", ["value", "a#bA"]),
        ('empty ""', ["empty", ""]),
        ("price 5$", ["price", "5$"]),
    ],
)
def test_tokenizer(line: str, words: list[str]) -> None:
    assert tokenize_line(line) == words


def test_tokenizer_refuses_an_unterminated_quote() -> None:
    with pytest.raises(TokenizeError):
        tokenize_line('set-header X "open')


def test_named_defaults_and_old_style_binds(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        "defaults base\n  mode http\n  timeout client 7s\n"
        "defaults\n  mode tcp\n"
        "frontend web from base\n  bind 127.0.0.1:18777\n  default_backend app\n"
        "listen legacy 127.0.0.1:18779\n  server b 127.0.0.1:18780\n"
        "backend app from base\n  server a 127.0.0.1:18778\n"
    )
    result = import_cfg(cfg, tmp_path)
    assert result.status == 0, result.stderr
    result.check()
    web = result.frontend("web")
    assert (web["mode"], web["idle_timeout"]) == ("http", "7s")
    legacy = result.frontend("legacy")  # the last anonymous defaults: mode tcp
    assert (legacy["listen"], legacy["mode"]) == ("127.0.0.1:18779", "tcp")
