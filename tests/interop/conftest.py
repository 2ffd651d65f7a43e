"""Fixtures for the interop suite: the tern binary, the node-smpp SMSC simulator, a tern node.

Every server listens on 127.0.0.1 on a port picked free at run time; every process started
here is stopped in fixture teardown (and, as a last resort, at session end); every wait is
bounded.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PEERS = HERE / "peers"

SIM_USER = "ternup"
SIM_PASS = "uppass"

ACCOUNTS = [
    # system_id, password, max_binds
    ("kannel", "secret", 4),
    ("smpplib", "secret", 4),
    ("nodeesme", "secret", 4),
    ("onebind", "secret", 1),
]

_live = []  # every Proc started, for the session-end safety net


# ---------------------------------------------------------------- helpers

# Ports come from below the kernel's ephemeral range, starting at a place drawn from the
# process id, each handed out once: a port the kernel hands out for a probe can be taken by
# an outgoing connection before the server binds it.
_FIRST, _SPAN = 20000, 12768
_next = [os.getpid() * 7919 % _SPAN]


def free_port():
    for _ in range(_SPAN):
        port = _FIRST + _next[0] % _SPAN
        _next[0] = (_next[0] + 1) % _SPAN
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 20000..32768")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """A child process with stdout/stderr in files, stopped by pid only."""

    def __init__(self, name, argv, log_dir, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.stdout_path = Path(log_dir) / (name + ".stdout")
        self.stderr_path = Path(log_dir) / (name + ".stderr")
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err, env=full_env, cwd=cwd)
        _live.append(self)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def tail(self, n=40):
        lines = (self.stdout() + self.stderr()).splitlines()
        return "\n".join(lines[-n:])

    def send_signal(self, sig):
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig, wait up to timeout, then SIGKILL. Returns the exit code (None if killed)."""
        rc = None
        if self.alive():
            self.popen.send_signal(sig)
            try:
                rc = self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
                rc = None
        else:
            rc = self.popen.returncode
        self._close_files()
        return rc

    def kill(self):
        if self.alive():
            self.popen.kill()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()

    def _close_files(self):
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass
        if self in _live:
            _live.remove(self)


def pytest_sessionfinish(session, exitstatus):
    for p in list(_live):
        p.kill()


# ---------------------------------------------------------------- the tern binary

@pytest.fixture(scope="session")
def tern_bin():
    path = Path(os.environ.get("TERN_BIN") or REPO / "target" / "debug" / "tern")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail("tern binary not found at %s: run `cargo build --bin tern` or set TERN_BIN" % path,
                    pytrace=False)
    return path


@pytest.fixture
def bench_bin(tern_bin):
    """tern-bench: from beside the tern binary, or $TERN_BENCH_BIN."""
    path = Path(os.environ.get("TERN_BENCH_BIN") or Path(tern_bin).parent / "tern-bench").resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail("tern-bench not found at %s: run `cargo build --bin tern --bin tern-bench` or set "
                    "TERN_BENCH_BIN" % path, pytrace=False)
    return path


@pytest.fixture(scope="session")
def node_bin():
    for cand in ("node", "nodejs"):
        for d in os.environ.get("PATH", "").split(os.pathsep):
            p = Path(d) / cand
            if p.is_file() and os.access(p, os.X_OK):
                if not (PEERS / "node_modules" / "smpp").is_dir():
                    pytest.fail("node-smpp missing: run `npm ci` in %s" % PEERS, pytrace=False)
                return str(p)
    pytest.fail("node.js not found on PATH", pytrace=False)


# ---------------------------------------------------------------- the SMSC simulator

class SmscSim:
    """tests/interop/peers/smsc-sim.js on a fixed port; can be stopped and started again."""

    def __init__(self, node, log_dir, port=None, user=SIM_USER, password=SIM_PASS, env=None, tls=None):
        self.node = node
        self.tls = tls  # TlsFiles: listen with TLS, tern trusts tls.ca
        self.log_dir = Path(log_dir)
        self.port = port or free_port()
        self.user = user
        self.password = password
        self.extra_env = dict(env or {})
        self.runs = []  # one Proc per start
        self.proc = None

    def start(self, timeout=10.0):
        n = len(self.runs) + 1
        env = {"SMSC_PORT": str(self.port), "SMSC_USER": self.user, "SMSC_PASS": self.password}
        if self.tls:
            env.update({"SMSC_TLS_CERT": str(self.tls.cert), "SMSC_TLS_KEY": str(self.tls.key)})
        env.update(self.extra_env)
        self.proc = Proc("smsc-sim.%d" % n, [self.node, PEERS / "smsc-sim.js"], self.log_dir,
                         env=env, cwd=PEERS)
        self.runs.append(self.proc)

        def listening():
            if not self.proc.alive():
                raise AssertionError("smsc-sim exited with %s:\n%s" % (self.proc.popen.returncode,
                                                                       self.proc.tail()))
            return any(e.get("event") == "listening" for e in self.events(self.proc))

        wait_until(listening, timeout, what="smsc-sim to listen on %d" % self.port)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        if self.proc is not None:
            return self.proc.stop(sig, timeout)
        return None

    def events(self, proc=None):
        """Parsed JSON lines from one run (default: all runs, in order)."""
        procs = [proc] if proc else self.runs
        out = []
        for p in procs:
            for line in p.stdout().splitlines():
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def submits(self, proc=None):
        return [e for e in self.events(proc) if e.get("event") == "submit_sm"]

    def binds(self, proc=None, ok=True):
        return [e for e in self.events(proc) if e.get("event") == "bind" and e.get("ok") == ok]

    def wait_submits(self, n, timeout=10.0, proc=None):
        return wait_until(lambda: len(self.submits(proc)) >= n and self.submits(proc), timeout,
                          what="%d submit_sm at the SMSC simulator (log: %s)" % (n, self.log_dir))

    def wait_bound(self, timeout=10.0, proc=None):
        return wait_until(lambda: self.binds(proc), timeout,
                          what="an upstream bind at the SMSC simulator")


def started(build, stop_timeout):
    """A factory fixture's body: yields make(...), which starts and returns build(...);
    at teardown every run of everything it made is stopped (SIGTERM, then SIGKILL after
    stop_timeout)."""
    made = []

    def make(*args, **kw):
        peer = build(*args, **kw)
        made.append(peer)
        return peer.start()

    yield make
    for peer in made:
        for p in peer.runs:
            p.stop(signal.SIGTERM, stop_timeout)


@pytest.fixture
def sim_factory(node_bin, tmp_path):
    yield from started(lambda **kw: SmscSim(node_bin, tmp_path, **kw), 5)


@pytest.fixture
def smsc_sim(sim_factory):
    return sim_factory()


# ---------------------------------------------------------------- TLS material

class TlsFiles:
    def __init__(self, d):
        self.dir = Path(d)
        self.ca = self.dir / "ca.pem"
        self.cert = self.dir / "server.pem"
        self.key = self.dir / "server.key"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A throwaway CA and a server certificate for 127.0.0.1 (made with the openssl CLI)."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.fail("the openssl command is needed to make test certificates", pytrace=False)
    d = tmp_path_factory.mktemp("tls")
    t = TlsFiles(d)

    def run(*args):
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=Tern interop test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return t


# ---------------------------------------------------------------- a tern node

def tern_config(smpp_port, metrics_port, upstream=None, accounts=ACCOUNTS, tls_port=None, tls=None, extra="",
                upstream_extra=()):
    lines = [
        "[node]",
        "id = 1",
        "shutdown_grace_secs = 5",
        "",
        "[log]",
        'level = "info"',
        "",
        "[metrics]",
        'listen = "127.0.0.1:%d"' % metrics_port,
        "",
        "[cluster]",
        'listen = "127.0.0.1:0"',
        "",
        "[smpp]",
        'listen = "127.0.0.1:%d"' % smpp_port,
    ]
    if tls_port:
        lines += ['tls_listen = "127.0.0.1:%d"' % tls_port,
                  'tls_cert = "%s"' % tls.cert,
                  'tls_key = "%s"' % tls.key]
    lines += [
        "proxy_protocol = false",
        "max_pdu_bytes = 65536",
        "window = 64",
        "enquire_link_secs = 30",
        "inactivity_secs = 120",
        "response_timeout_secs = 10",
        "bind_timeout_secs = 10",
        "",
    ]
    for account in accounts:  # (system_id, password, max_binds[, extra TOML lines])
        system_id, password, max_binds = account[:3]
        lines += ["[[account]]",
                  'system_id = "%s"' % system_id,
                  'password = "%s"' % password,
                  "max_binds = %d" % max_binds]
        lines += list(account[3] if len(account) > 3 else ()) + [""]
    if upstream is not None:
        lines += ["[[upstream]]",
                  'name = "sim"',
                  'url = "%s://%s:%s@127.0.0.1:%d"' % ("smpps" if upstream.tls else "smpp", upstream.user,
                                                         upstream.password, upstream.port),
                  'bind = "transceiver"',
                  "window = 64",
                  "tps = 0"]
        if upstream.tls:
            lines += ['tls_ca = "%s"' % upstream.tls.ca]
        lines += list(upstream_extra)
        lines += [""]
    return "\n".join(lines) + extra


class TernNode:
    def __init__(self, binary, log_dir, upstream=None, accounts=ACCOUNTS, name="tern", tls=None,
                 upstream_extra=(), extra=""):
        self.binary = binary
        self.log_dir = Path(log_dir)
        self.upstream = upstream
        self.port = free_port()
        self.metrics_port = free_port()
        self.tls_port = free_port() if tls else None
        self.config_path = self.log_dir / (name + ".toml")
        self.config_path.write_text(tern_config(self.port, self.metrics_port, upstream, accounts,
                                                self.tls_port, tls, extra=extra,
                                                upstream_extra=upstream_extra))
        self.name = name
        self.proc = None
        self.exit_code = None

    def start(self, timeout=15.0):
        # Its own working directory: whatever tern keeps at relative paths (an embedded store,
        # say) stays with this node and this test.
        self.work_dir = self.log_dir / (self.name + ".cwd")
        self.work_dir.mkdir(exist_ok=True)
        self.proc = Proc(self.name, [self.binary, "node", "--config", self.config_path], self.log_dir,
                         env={"RUST_BACKTRACE": "1"}, cwd=self.work_dir)

        def ready():
            if not self.proc.alive():
                raise AssertionError("tern exited with %s before listening:\n%s"
                                     % (self.proc.popen.returncode, self.proc.tail()))
            return port_open(self.port)

        wait_until(ready, timeout, interval=0.1, what="tern to accept on %d" % self.port)
        if self.tls_port:
            wait_until(lambda: port_open(self.tls_port), timeout, interval=0.1,
                       what="tern to accept TLS on %d" % self.tls_port)
        if self.upstream is not None:
            # tern's client binds to the simulator on its own; wait so the first submit is
            # not racing the upstream bind.
            self.upstream.wait_bound(timeout)
        return self

    def stop(self, timeout=15.0):
        """SIGTERM; returns the exit code, or None if it had to be killed after timeout."""
        if self.proc is None:
            return None
        if self.exit_code is None:
            self.exit_code = self.proc.stop(signal.SIGTERM, timeout)
        return self.exit_code

    def log(self):
        return self.proc.tail(200) if self.proc else ""


@pytest.fixture
def tern_factory(tern_bin, tmp_path, sim_factory):
    # sim_factory is set up first so that the simulators outlive the tern nodes at teardown:
    # tern then shuts down against a live upstream.
    nodes = []

    def make(upstream=None, accounts=ACCOUNTS, name=None, tls=None, upstream_extra=(), extra=""):
        node = TernNode(tern_bin, tmp_path, upstream, accounts, name or "tern%d" % (len(nodes) + 1), tls,
                        upstream_extra, extra)
        nodes.append(node)
        return node.start()

    yield make
    stop_nodes_checked(nodes)


def stop_nodes_checked(nodes):
    """SIGTERM every node; fail the test if one does not exit 0 within 15 s or died early."""
    problems = []
    for node in nodes:
        if node.proc is None:
            continue
        alive_before = node.proc.alive()
        t0 = time.monotonic()
        rc = node.stop(15.0)
        if alive_before and rc != 0:
            problems.append("%s: SIGTERM -> exit code %s after %.1fs (None = still running after 15s, "
                            "killed)\n%s" % (node.name, rc, time.monotonic() - t0, node.proc.tail()))
        elif not alive_before and rc != 0:
            problems.append("%s died during the test with exit code %s\n%s"
                            % (node.name, rc, node.proc.tail()))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def tern_node(smsc_sim, tern_factory):
    """A tern node whose only upstream is the SMSC simulator (already bound)."""
    return tern_factory(upstream=smsc_sim)


# ---------------------------------------------------------------- CMPP
#
# The CMPP peers live in cmpp/: the SMSGate harness (cmpp/java, server and client, CMPP 2.0
# and 3.0) and wrappers around pycmpp (2.0 client) and cmppy (3.0 client). See
# cmpp/README.md.

CMPP_DIR = HERE / "cmpp"
CMPP_JAVA = CMPP_DIR / "java"
CMPP_PEER = CMPP_JAVA / "cmpp-peer"

# tern's CMPP customers: Source_Addr, shared secret, simultaneous connections.
# 901234/demo is also the demo account of `tern dev`.
CMPP_ACCOUNTS = [
    ("901234", "demo", 4),
]
# The peers' clock zone. A CONNECT's Timestamp (MMDDHHMMSS) is the peer's local time, and
# CMPP peers live in China: tern reads the timestamp as China Standard Time and refuses one
# too far from its clock. pycmpp, cmppy and SMSGate all use the process's local zone, so they
# run at UTC+8 whatever the machine's zone is (a POSIX TZ string: no tzdata needed; Java and
# Python both honour it).
CMPP_PEER_ENV = {"TZ": "CST-8"}
# The account tern uses towards an SMSGate operator (CmppOperator's defaults).
CMPP_OP_USER = "901783"
CMPP_OP_PASS = "ICP001"


def tern_cmpp_config(smpp_port, cmpp_port, metrics_port, smpp_upstream=None, cmpp_upstream=None,
                     smpp_accounts=ACCOUNTS, cmpp_accounts=CMPP_ACCOUNTS):
    """tern's TOML for a node with the SMPP and the CMPP listener: the one place that spells
    the CMPP configuration keys.

      [cmpp] listen = "127.0.0.1:PORT"
      [[account]] system_id = SOURCE_ADDR, password, cmpp_secret = SECRET
                                    -- an account that connects over CMPP (SMPP too)
      [[upstream]] url = "cmpp://SOURCE_ADDR:SECRET@HOST:PORT", version = "2.0" | "3.0",
                   service_id, src_id   -- an operator ISMG
    The SMPP parts (accounts, an smsc-sim upstream) are conftest.tern_config's.
    """
    accounts = list(smpp_accounts) + [(source_addr, secret[:8], max_connections, ['cmpp_secret = "%s"' % secret])
                                      for source_addr, secret, max_connections in cmpp_accounts]
    text = tern_config(smpp_port, metrics_port, upstream=smpp_upstream, accounts=accounts)
    lines = ["", "[cmpp]", 'listen = "127.0.0.1:%d"' % cmpp_port, ""]
    if cmpp_upstream is not None:
        lines += ["[[upstream]]",
                  'name = "cmpp-op"',
                  'url = "cmpp://%s:%s@127.0.0.1:%d"' % (cmpp_upstream.user, cmpp_upstream.password,
                                                         cmpp_upstream.port),
                  'version = "%s"' % ("3.0" if cmpp_upstream.version == 0x30 else "2.0"),
                  'service_id = "TERN"',
                  'src_id = "10658762"',
                  "window = 16",
                  ""]
    return text + "\n".join(lines) + "\n"


def tern_cmpp_support(binary):
    """True when this tern binary has the CMPP connector (`tern dev --cmpp-listen`)."""
    try:
        out = subprocess.run([str(binary), "dev", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--cmpp-listen" in out.stdout + out.stderr


@pytest.fixture(scope="session")
def tern_cmpp_bin(tern_bin):
    if not tern_cmpp_support(tern_bin):
        pytest.fail("this tern binary has no CMPP connector: `%s dev --help` has no --cmpp-listen"
                    % tern_bin, pytrace=False)
    return tern_bin


@pytest.fixture(scope="session")
def cmpp_peer():
    """The SMSGate harness, built (idempotent: cmpp/java/build.sh does nothing when up to date)."""
    for tool in ("java", "javac", "mvn"):
        if not shutil.which(tool):
            pytest.fail("%s not found on PATH: the SMSGate CMPP peer needs a JDK 17 and Maven "
                        "(scripts/test installs openjdk-17-jdk-headless and maven)" % tool, pytrace=False)
    try:
        out = subprocess.run([str(CMPP_JAVA / "build.sh")], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("building the SMSGate CMPP peer took over 900 s", pytrace=False)
    if out.returncode != 0:
        pytest.fail("building the SMSGate CMPP peer failed (%s):\n%s\n%s"
                    % (out.returncode, out.stdout[-3000:], out.stderr[-3000:]), pytrace=False)
    return CMPP_PEER


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class PeerRun:
    """One bounded run of a CMPP client peer (SMSGate client, pycmpp or cmppy wrapper)."""

    def __init__(self, name, argv, log_dir, timeout):
        self.name = name
        self.argv = [str(a) for a in argv]
        log_dir = Path(log_dir)
        try:
            p = subprocess.run(self.argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                               env=dict(os.environ, **CMPP_PEER_ENV))
            self.rc, stdout, stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:  # subprocess.run has killed it
            self.rc, stdout, stderr = None, e.stdout or b"", e.stderr or b""
        self.stdout = stdout.decode("utf-8", "replace")
        self.stderr = stderr.decode("utf-8", "replace")
        (log_dir / (name + ".stdout")).write_text(self.stdout)
        (log_dir / (name + ".stderr")).write_text(self.stderr)
        self.events = json_lines(self.stdout)
        dones = self.of("done")
        self.done = dones[-1] if dones else {}

    def of(self, event):
        return [e for e in self.events if e.get("event") == event]

    def describe(self):
        return "%s: rc=%s argv=%s\nstdout:\n%s\nstderr (tail):\n%s" % (
            self.name, self.rc, " ".join(self.argv), self.stdout, "\n".join(self.stderr.splitlines()[-30:]))


@pytest.fixture
def cmpp_client(cmpp_peer, tmp_path):
    """Runs a CMPP client peer to completion: cmpp_client(kind, port, ...) -> PeerRun.

    kind: "smsgate" (version=0x20|0x30), "pycmpp" (2.0) or "cmppy" (3.0). texts: list of
    messages (SMSGate: one --text, repeated --count times). flags: extra arguments.
    """
    runs = []

    def run(kind, port, user=CMPP_ACCOUNTS[0][0], secret=CMPP_ACCOUNTS[0][1], version=0x30, texts=(),
            flags=(), timeout_s=30):
        n = len(runs) + 1
        if kind == "smsgate":
            argv = [cmpp_peer, "client", "--host", "127.0.0.1", "--port", port, "--version", "0x%02x" % version,
                    "--user", user, "--password", secret, "--timeout-s", timeout_s]
            for t in texts:
                argv += ["--text", t]
        elif kind in ("pycmpp", "cmppy"):
            argv = [sys.executable, CMPP_DIR / ("%s_client.py" % kind), "--port", port, "--user", user,
                    "--secret", secret, "--timeout-s", timeout_s]
            for t in texts:
                argv += ["--text", t]
        else:
            raise ValueError(kind)
        r = PeerRun("%s-client.%d" % (kind, n), argv + list(flags), tmp_path, timeout=timeout_s * 3 + 30)
        runs.append(r)
        return r

    return run


class CmppOperator:
    """The SMSGate harness as an operator ISMG (`cmpp-peer server`) on a fixed port."""

    label = "cmpp-op"  # its runs' log files
    protocol = "CMPP"

    def __init__(self, peer, log_dir, version=0x30, user=CMPP_OP_USER, password=CMPP_OP_PASS, port=None,
                 args=()):
        self.peer = peer
        self.log_dir = Path(log_dir)
        self.version = version
        self.user = user
        self.password = password
        self.port = port or free_port()
        self.args = [str(a) for a in args]
        self.runs = []
        self.proc = None

    def command(self):
        return [self.peer, "server", "--port", self.port, "--version", "0x%02x" % self.version, "--user",
                self.user, "--password", self.password] + self.args

    def start(self, timeout=30.0):
        n = len(self.runs) + 1
        self.proc = Proc("%s.%d" % (self.label, n), self.command(), self.log_dir, env=CMPP_PEER_ENV)
        self.runs.append(self.proc)

        def listening():
            if not self.proc.alive():
                raise AssertionError("%s server exited with %s:\n%s" % (Path(self.peer).name,
                                                                       self.proc.popen.returncode, self.proc.tail()))
            return any(e.get("event") == "listening" for e in json_lines(self.proc.stdout()))

        wait_until(listening, timeout, interval=0.1,
                   what="%s server to listen on %d" % (Path(self.peer).name, self.port))
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is not None:
            return self.proc.stop(sig, timeout)
        return None

    def events(self, name=None):
        out = []
        for p in self.runs:
            out += json_lines(p.stdout())
        return [e for e in out if name is None or e.get("event") == name]

    def submits(self):
        """Whole messages (SMSGate reassembles long ones), one event per message."""
        return self.events("submit")

    def wait_submits(self, n, timeout=15.0):
        return wait_until(lambda: len(self.submits()) >= n and self.submits(), timeout,
                          what="%d %s submits at the SMSGate operator (log: %s)" % (n, self.protocol, self.log_dir))

    def wait_session(self, timeout=15.0):
        return wait_until(lambda: self.events("session_up"), timeout,
                          what="a %s client session at the SMSGate operator" % self.protocol)

    def tail(self):
        return self.proc.tail(60) if self.proc else ""


@pytest.fixture
def cmpp_op_factory(cmpp_peer, tmp_path):
    yield from started(lambda **kw: CmppOperator(cmpp_peer, tmp_path, **kw), 10)


class CmppTernNode(TernNode):
    """A tern node with the SMPP and the CMPP listener, and an smsc-sim and/or SMSGate upstream."""

    def __init__(self, binary, log_dir, smpp_upstream=None, cmpp_upstream=None, cmpp_accounts=CMPP_ACCOUNTS,
                 name="tern"):
        self.binary = binary
        self.log_dir = Path(log_dir)
        self.upstream = smpp_upstream
        self.cmpp_upstream = cmpp_upstream
        self.port = free_port()
        self.cmpp_port = free_port()
        self.metrics_port = free_port()
        self.tls_port = None
        self.config_path = self.log_dir / (name + ".toml")
        self.config_path.write_text(tern_cmpp_config(self.port, self.cmpp_port, self.metrics_port,
                                                     smpp_upstream, cmpp_upstream, cmpp_accounts=cmpp_accounts))
        self.name = name
        self.proc = None
        self.exit_code = None

    def start(self, timeout=15.0):
        super().start(timeout)
        wait_until(lambda: port_open(self.cmpp_port), timeout, interval=0.1,
                   what="tern to accept CMPP on %d (config %s)" % (self.cmpp_port, self.config_path))
        if self.cmpp_upstream is not None:
            # tern connects to the operator on its own; the first submit should not race it
            self.cmpp_upstream.wait_session(timeout)
        return self


@pytest.fixture
def cmpp_tern_factory(tern_cmpp_bin, tmp_path, sim_factory, cmpp_op_factory):
    # the upstreams' factories come first so that they outlive the tern nodes at teardown
    nodes = []

    def make(smpp_upstream=None, cmpp_upstream=None, cmpp_accounts=CMPP_ACCOUNTS, name=None):
        node = CmppTernNode(tern_cmpp_bin, tmp_path, smpp_upstream, cmpp_upstream, cmpp_accounts,
                            name or "tern%d" % (len(nodes) + 1))
        nodes.append(node)
        return node.start()

    yield make
    stop_nodes_checked(nodes)


# ---------------------------------------------------------------- SGIP and SMGP
#
# The SMSGate peers in cn/java (`sgip-peer`, `smgp-peer`: each an operator's gateway as
# `server` and an SP as `client`), built by cn/java/build.sh. See cn/README.md.

CN_JAVA = HERE / "cn" / "java"
CN_PEERS = {"sgip": CN_JAVA / "sgip-peer", "smgp": CN_JAVA / "smgp-peer"}

# tern's SGIP and SMGP customers: the account id (SGIP Login_Name, SMGP ClientID), its shared
# secret (`secrets.sgip`: the Bind's Login_Password; `secrets.smgp`: the Login's
# authenticator), simultaneous connections.
CN_ACCOUNTS = [
    ("901234", "demo", 4),
]
# Refusals of a wrong password: the SGIP Bind_Resp result, the SMGP Login_Resp status.
CN_AUTH_FAILED = {"sgip": 1, "smgp": 21}


def tern_cn_config(protocol, smpp_port, cn_port, metrics_port, smpp_upstream=None, cn_upstream=None,
                   smpp_accounts=ACCOUNTS, cn_accounts=CN_ACCOUNTS, deliver_to=None):
    """tern's TOML for a node with the SMPP and the SGIP or SMGP listener: the one place that
    spells their configuration keys.

      [smgp] listen = "127.0.0.1:PORT"
      [sgip] listen = "127.0.0.1:PORT"
      [sgip.deliver_to] "ACCOUNT" = "HOST:PORT"
                                    -- the SP's listener, where tern binds (login type 2, the
                                       account id and its sgip secret) to send Reports and
                                       Delivers
      [[account]] system_id = ACCOUNT, password, secrets = { PROTOCOL = SECRET }
      [[upstream]] url = "smgp://CLIENTID:SECRET@HOST:PORT"      -- an SMGW
      [[upstream]] url = "sgip://LOGIN:PASSWORD@HOST:PORT",       -- an SMG, which binds
                   report_listen = "HOST:PORT",                    back here with its reports
                   corp_id = "12345"                               -- the SP's CorpId
    deliver_to: {account: (host, port)}; the login there is the account's own. The SMPP parts
    (accounts, an smsc-sim upstream) are conftest.tern_config's.
    """
    accounts = list(smpp_accounts) + [
        (account, secret[:8], max_connections, ['secrets = { %s = "%s" }' % (protocol, secret)])
        for account, secret, max_connections in cn_accounts]
    text = tern_config(smpp_port, metrics_port, upstream=smpp_upstream, accounts=accounts)
    lines = ["", "[%s]" % protocol, 'listen = "127.0.0.1:%d"' % cn_port, ""]
    if protocol == "sgip" and deliver_to:
        lines += ["[sgip.deliver_to]"]
        lines += ['"%s" = "%s:%d"' % (account, host, port)
                  for account, (host, port) in deliver_to.items()]
        lines += [""]
    if cn_upstream is not None:
        lines += ["[[upstream]]",
                  'name = "%s-op"' % protocol,
                  'url = "%s://%s:%s@127.0.0.1:%d"' % (protocol, cn_upstream.user, cn_upstream.password,
                                                       cn_upstream.port),
                  "window = 16"]
        if protocol == "sgip":
            lines += ['report_listen = "127.0.0.1:%d"' % cn_upstream.report_port,
                      'corp_id = "12345"']
        lines += [""]
    return text + "\n".join(lines) + "\n"


_speaks = {}


def tern_speaks(protocol):
    """True when the tern binary ($TERN_BIN, else target/debug/tern) has the `protocol`
    connector both ways: `tern check-config` takes the configuration the tests give it, a
    listener for customers and an upstream of that protocol. An option of `tern dev` or a
    configuration section alone would show only part of it. $TERN_SPEAKS (protocols, space
    separated) overrides the check: their tests run, and fail, whatever the binary says."""
    if protocol in os.environ.get("TERN_SPEAKS", "").split():
        return True
    binary = Path(os.environ.get("TERN_BIN") or REPO / "target" / "debug" / "tern")
    key = (str(binary), protocol)
    if key not in _speaks:
        _speaks[key] = False
        if binary.is_file() and os.access(binary, os.X_OK):
            op = types.SimpleNamespace(user=CMPP_OP_USER, password=CMPP_OP_PASS, port=20004, report_port=20005)
            text = tern_cn_config(protocol, 20001, 20002, 20003, cn_upstream=op,
                                  deliver_to={CN_ACCOUNTS[0][0]: ("127.0.0.1", 20006)})
            with tempfile.NamedTemporaryFile("w", suffix=".toml", prefix="tern-speaks-%s-" % protocol) as f:
                f.write(text)
                f.flush()
                try:
                    out = subprocess.run([str(binary), "check-config", "--config", f.name], capture_output=True,
                                         text=True, timeout=30)
                    _speaks[key] = out.returncode == 0
                except (OSError, subprocess.TimeoutExpired):
                    pass
    return _speaks[key]


@pytest.fixture(scope="session")
def cn_peers():
    """The SMSGate SGIP and SMGP peers, built (idempotent: cn/java/build.sh does nothing when
    up to date): {"sgip": path, "smgp": path}."""
    for tool in ("java", "javac", "mvn"):
        if not shutil.which(tool):
            pytest.fail("%s not found on PATH: the SMSGate SGIP and SMGP peers need a JDK 17 and Maven "
                        "(scripts/test installs openjdk-17-jdk-headless and maven)" % tool, pytrace=False)
    try:
        out = subprocess.run([str(CN_JAVA / "build.sh")], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("building the SMSGate SGIP and SMGP peers took over 900 s", pytrace=False)
    if out.returncode != 0:
        pytest.fail("building the SMSGate SGIP and SMGP peers failed (%s):\n%s\n%s"
                    % (out.returncode, out.stdout[-3000:], out.stderr[-3000:]), pytrace=False)
    return dict(CN_PEERS)


@pytest.fixture
def cn_client(cn_peers, tmp_path):
    """Runs an SGIP or SMGP client peer (an SP) to completion:
    cn_client(protocol, port, ...) -> PeerRun.

    texts: one --text, repeated --count times. listen (SGIP): the port of the SP's own
    listener, where the SMG binds with login type 2 to send Reports and Delivers. flags:
    extra arguments (--report, --long, --ucs2, --expect-mo N, ...)."""
    runs = []

    def run(protocol, port, user=CN_ACCOUNTS[0][0], secret=CN_ACCOUNTS[0][1], texts=(), flags=(), listen=None,
            timeout_s=30):
        argv = [cn_peers[protocol], "client", "--host", "127.0.0.1", "--port", port, "--user", user,
                "--password", secret, "--timeout-s", timeout_s]
        for t in texts:
            argv += ["--text", t]
        if listen is not None:
            argv += ["--listen", listen]
        r = PeerRun("%s-client.%d" % (protocol, len(runs) + 1), argv + list(flags), tmp_path,
                    timeout=timeout_s * 3 + 30)
        runs.append(r)
        return r

    return run


class CnOperator(CmppOperator):
    """An SMSGate SGIP SMG or SMGP gateway (`sgip-peer server`, `smgp-peer server`) on a
    fixed port. The SGIP one sends its Reports and MOs over a connection it opens to
    report_port with a Bind of login type 2 (an SP's listener: tern's report_listen);
    without connect_back, over the SP's own connection."""

    def __init__(self, protocol, peer, log_dir, user=CMPP_OP_USER, password=CMPP_OP_PASS, port=None,
                 connect_back=True, args=()):
        super().__init__(peer, log_dir, user=user, password=password, port=port, args=args)
        self.protocol = protocol.upper()
        self.label = "%s-op" % protocol
        self.report_port = free_port() if protocol == "sgip" and connect_back else None

    def command(self):
        argv = [self.peer, "server", "--port", self.port, "--user", self.user, "--password", self.password]
        if self.report_port:
            argv += ["--report-to", "127.0.0.1:%d" % self.report_port]
        return argv + self.args


@pytest.fixture
def cn_op_factory(cn_peers, tmp_path):
    """cn_op_factory(protocol, **kw): a started CnOperator."""
    yield from started(lambda protocol, **kw: CnOperator(protocol, cn_peers[protocol], tmp_path, **kw), 10)


class CnTernNode(TernNode):
    """A tern node with the SMPP and the SGIP or SMGP listener, and an smsc-sim and/or SMSGate
    upstream."""

    def __init__(self, binary, log_dir, protocol, smpp_upstream=None, cn_upstream=None, cn_accounts=CN_ACCOUNTS,
                 deliver_to=None, name="tern"):
        super().__init__(binary, log_dir, upstream=smpp_upstream, name=name)
        self.protocol = protocol
        self.cn_upstream = cn_upstream
        self.cn_port = free_port()
        # the SMPP-only configuration TernNode wrote, replaced by one with this protocol too
        self.config_path.write_text(tern_cn_config(protocol, self.port, self.cn_port, self.metrics_port,
                                                   smpp_upstream, cn_upstream, cn_accounts=cn_accounts,
                                                   deliver_to=deliver_to))

    def start(self, timeout=15.0):
        super().start(timeout)
        wait_until(lambda: port_open(self.cn_port), timeout, interval=0.1,
                   what="tern to accept %s on %d (config %s)" % (self.protocol, self.cn_port, self.config_path))
        if self.cn_upstream is not None and self.protocol == "sgip":
            # an SP binds to the SMG when it has something to send; the SMG binds back to
            # report_listen when it has reports: nothing to wait for but that listener
            wait_until(lambda: port_open(self.cn_upstream.report_port), timeout, interval=0.1,
                       what="tern's SGIP report_listen on %d" % self.cn_upstream.report_port)
        elif self.cn_upstream is not None:
            # tern logs in to the gateway on its own; the first submit should not race it
            self.cn_upstream.wait_session(timeout)
        return self


@pytest.fixture
def cn_tern_factory(tern_bin, tmp_path, sim_factory, cn_op_factory):
    # the upstreams' factories come first so that they outlive the tern nodes at teardown
    nodes = []

    def make(protocol, smpp_upstream=None, cn_upstream=None, cn_accounts=CN_ACCOUNTS, deliver_to=None, name=None):
        node = CnTernNode(tern_bin, tmp_path, protocol, smpp_upstream, cn_upstream, cn_accounts, deliver_to,
                          name or "tern%d" % (len(nodes) + 1))
        nodes.append(node)
        return node.start()

    yield make
    stop_nodes_checked(nodes)
