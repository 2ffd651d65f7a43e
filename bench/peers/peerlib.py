"""Shared parts of the peer scripts (bench/peers/kannel, bench/peers/jasmin).

Processes, ports, bounded waits, the state file a `stop` reads, an HTTP sendsms driver with a
DLR receiver (for Kannel), and the simulated SMSC run by the selftests. Standard library only;
everything listens on and connects to 127.0.0.1.
"""

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PEERS_TARGET = REPO / "target" / "peers"
TERN_BENCH = Path(os.environ.get("TERN_BENCH", REPO / "target" / "release" / "tern-bench"))

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


class PeerError(Exception):
    pass


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ ports

def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1, from below the kernel's ephemeral range
    (20000..32768, starting at a place drawn from the process id): a port the kernel hands
    out for a probe can be taken by an outgoing connection before the server binds it."""
    first, span = 20000, 12768
    start = os.getpid() * 7919 % span
    ports = []
    for i in range(span):
        port = first + (start + i) % span
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError("not enough free ports in 20000..32768")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def parse_hostport(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise PeerError("expected HOST:PORT, got %r" % text)
    return host, int(port)


def wait_until(pred, timeout, what, interval=0.2, check=None):
    """Poll pred() until truthy; raise PeerError after timeout seconds. check() may raise early."""
    deadline = time.monotonic() + timeout
    while True:
        if check is not None:
            check()
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise PeerError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------------ processes and state

def proc_start_time(pid):
    """The kernel's start time of pid (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    if rest[0] == "Z":
        return None
    return int(rest[19])


def alive(entry):
    return proc_start_time(entry["pid"]) == entry["start"]


class State:
    """DIR/state.json: what `start` launched, so that `stop` (any later process) can end it."""

    def __init__(self, d):
        self.dir = Path(d)
        self.path = self.dir / "state.json"
        self.data = {"procs": [], "extra": {}}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    def save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)

    def spawn(self, name, argv, env=None, cwd=None):
        """Start argv in its own session (process group), output to DIR/NAME.out."""
        out = open(self.dir / ("%s.out" % name), "ab")
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, env=env, cwd=str(cwd or self.dir),
                             start_new_session=True)
        out.close()
        entry = {"name": name, "pid": p.pid, "start": None}
        for _ in range(50):
            entry["start"] = proc_start_time(p.pid)
            if entry["start"] is not None:
                break
            time.sleep(0.01)
        self.data["procs"].append(entry)
        self.save()
        return entry

    def check_alive(self, name):
        for e in self.data["procs"]:
            if e["name"] == name and not alive(e):
                raise PeerError("%s exited during start-up; last lines of %s:\n%s"
                                % (name, self.dir / (name + ".out"), tail(self.dir / (name + ".out"))))

    def pids(self):
        return [e["pid"] for e in self.data["procs"] if alive(e)]

    def stop_all(self, timeout=STOP_TIMEOUT):
        """SIGTERM every process group, newest first, then SIGKILL what is left of them."""
        procs = list(reversed(self.data["procs"]))
        for e in procs:
            if alive(e):
                signal_group(e["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(e) for e in procs):
            time.sleep(0.1)
        for e in procs:
            if alive(e):
                log("%s (pid %d) did not stop in %.0f s: SIGKILL" % (e["name"], e["pid"], timeout))
            # the leader, and children that outlived it: a process group's id stays taken
            # while any member lives, so its members are ours
            if not alive(e) and proc_start_time(e["pid"]) is not None:
                continue  # the pid belongs to another process now: not our group any more
            for pid in group_members(e["pid"]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.2)
        self.data["procs"] = [e for e in self.data["procs"] if alive(e)]
        self.save()
        return not self.data["procs"]


def signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def group_members(pgid):
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(d.name))
    return out


def tail(path, lines=30):
    try:
        data = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return "(no %s)" % path
    return "\n".join(data[-lines:])


# ------------------------------------------------------------------ HTTP sendsms driver + DLR receiver

class DlrReceiver:
    """An asyncio HTTP/1.1 server (keep-alive) that records GET /dlr?id=..&type=.. calls."""

    def __init__(self):
        self.calls = 0
        self.final = {}      # id -> type of its first report (dlr-mask 3: 1 delivered, 2 undelivered)
        self.types = {}      # type -> calls
        self.other = 0       # calls for an id already reported
        self.server = None
        self.port = None
        self.done = None

    async def start(self, expect):
        self.expect = expect
        self.done = asyncio.Event()
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                length = 0
                for h in head.split(b"\r\n")[1:]:
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                parts = line.split()
                if len(parts) >= 2:
                    self._record(parts[1])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError,
                asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _record(self, target):
        self.calls += 1
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)
        mid = q.get("id", [""])[0]
        typ = q.get("type", [""])[0]
        self.types[typ] = self.types.get(typ, 0) + 1
        if mid in self.final:
            self.other += 1
            return
        self.final[mid] = typ
        if len(self.final) >= self.expect:
            self.done.set()

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


async def _sendsms_worker(url, params, ids, dlr_port, stats, deadline):
    parsed = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
    try:
        while ids and time.monotonic() < deadline:
            mid = ids.pop()
            q = dict(params)
            q["to"] = "4917%07d" % (mid % 10_000_000)
            if dlr_port:
                q["dlr-mask"] = "3"
                q["dlr-url"] = "http://127.0.0.1:%d/dlr?id=%d&type=%%d" % (dlr_port, mid)
            req = ("GET %s?%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n"
                   % (parsed.path, urllib.parse.urlencode(q)))
            t0 = time.monotonic()
            writer.write(req.encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            close = False
            for h in head.split(b"\r\n")[1:]:
                hl = h.lower()
                if hl.startswith(b"content-length:"):
                    length = int(h.split(b":", 1)[1])
                elif hl.startswith(b"connection:") and b"close" in hl:
                    close = True
            body = await reader.readexactly(length) if length else b""
            stats["latency"].append(time.monotonic() - t0)
            if status == 202 and body.startswith(b"0:"):
                stats["accepted"] += 1
            else:
                stats["refused"] += 1
                stats.setdefault("refusals", {}).setdefault("%d %s" % (status, body[:40].decode("latin-1")), 0)
                stats["refusals"]["%d %s" % (status, body[:40].decode("latin-1"))] += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
                stats["reconnects"] += 1
    finally:
        writer.close()


async def http_load(url, username, password, count, connections=8, receipts=True,
                    duration=60.0, receipt_timeout=20.0, text=None):
    """Send count messages through a Kannel sendsms URL over keep-alive connections."""
    text = text or ("Tern bench " + "x" * 149)
    params = {"username": username, "password": password, "from": "TernBench", "text": text}
    dlr = DlrReceiver()
    await dlr.start(count)
    stats = {"accepted": 0, "refused": 0, "reconnects": 0, "latency": []}
    ids = list(range(count, 0, -1))
    t0 = time.monotonic()
    deadline = t0 + duration
    workers = [asyncio.create_task(_sendsms_worker(url, params, ids, dlr.port if receipts else 0,
                                                   stats, deadline))
               for _ in range(connections)]
    results = await asyncio.gather(*workers, return_exceptions=True)
    send_secs = time.monotonic() - t0
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    if receipts and stats["accepted"]:
        dlr.expect = stats["accepted"]
        if len(dlr.final) < dlr.expect:
            dlr.done.clear()
            try:
                await asyncio.wait_for(dlr.done.wait(), receipt_timeout)
            except asyncio.TimeoutError:
                pass
    all_secs = time.monotonic() - t0
    await dlr.close()
    lat = sorted(stats["latency"])

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

    return {
        "sent": count - len(ids),
        "accepted": stats["accepted"],
        "refused": stats["refused"],
        "refusals": stats.get("refusals", {}),
        "errors": errors,
        "send_seconds": round(send_secs, 3),
        "accepted_per_s": round(stats["accepted"] / send_secs, 1) if send_secs else 0,
        "request_ms": {"p50": pct(0.5), "p99": pct(0.99)},
        "receipts": len(dlr.final),
        "receipts_by_type": dlr.types,
        "receipts_repeated": dlr.other,
        "dlr_calls": dlr.calls,
        "end_to_end_per_s": round(len(dlr.final) / all_secs, 1) if receipts and all_secs else None,
        "seconds": round(all_secs, 3),
    }


# ------------------------------------------------------------------ the simulated SMSC for selftests

class Simulator:
    """`tern-bench smsc` on a free port; stop() returns its final stats (JSON on stderr)."""

    def __init__(self, workdir, system_id, password, extra=()):
        if not TERN_BENCH.exists():
            raise PeerError("%s is missing: build it with `CARGO_INCREMENTAL=0 flock /tmp/cargo.lock "
                            "cargo build --release --bin tern-bench`" % TERN_BENCH)
        self.port = free_ports(1)[0]
        self.addr = "127.0.0.1:%d" % self.port
        self.err_path = Path(workdir) / "smsc.err"
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [str(TERN_BENCH), "smsc", "--listen", self.addr, "--account",
             "%s:%s" % (system_id, password), *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err, start_new_session=True)
        wait_until(lambda: port_open(self.port), 15, "the simulated SMSC on %s" % self.addr,
                   check=self._check)

    def _check(self):
        if self.proc.poll() is not None:
            raise PeerError("tern-bench smsc exited: %s" % tail(self.err_path))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.err.close()
        text = self.err_path.read_text(errors="replace")
        start = text.rfind("\n{")
        if start < 0:
            start = text.find("{")
        try:
            return json.loads(text[start:].strip())
        except ValueError:
            return {}


def load_smpp(addr, system_id, password, count, binds=1, window=10, duration=60,
              receipts=True, receipt_timeout="20s", json_path=None, pid=None):
    """Run `tern-bench load` against an SMPP server; return (exit code, stdout, parsed JSON or {})."""
    argv = [str(TERN_BENCH), "load", "--target", addr, "--system-id", system_id,
            "--password", password, "--count", str(count), "--binds", str(binds),
            "--window", str(window), "--duration", "%ds" % duration, "--quiet",
            "--receipt-timeout", receipt_timeout]
    if receipts:
        argv.append("--receipts")
    if json_path:
        argv += ["--json", str(json_path)]
    if pid:
        argv += ["--pid", str(pid)]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=duration + _seconds(receipt_timeout) + 60)
    data = {}
    if json_path and Path(json_path).exists():
        try:
            data = json.loads(Path(json_path).read_text())
        except ValueError:
            pass
    return p.returncode, p.stdout + p.stderr, data


def _seconds(text):
    m = re.fullmatch(r"([\d.]+)(ms|s)?", str(text))
    if not m:
        return 60
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def emit(obj):
    """The one JSON line on stdout."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()
