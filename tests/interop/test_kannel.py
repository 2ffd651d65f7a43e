"""Kannel 1.4.5 (Debian `kannel`: bearerbox + smsbox) as a customer of tern.

Chain: HTTP sendsms -> smsbox -> bearerbox (SMPP ESME, bind_transceiver as `kannel`)
       -> tern -> smsc-sim.js; receipts come back the same way and Kannel calls our dlr-url.

Observed Kannel behaviour the assertions rely on (checked against the simulator alone):
* plain messages go out with esm_class 0x03, UDH parts with 0x43, data_coding 0 (GSM) or 8 (UCS-2);
* a long text with `concatenation = true` is split into UDH parts (05 00 03 ref n i), and Kannel
  asks for a receipt (registered_delivery=1) on the first part only (later parts carry 0), so
  a long message yields exactly one DLR callback, driven by the first part's receipt;
* the first part also carries the more_messages_to_send TLV (0x0426 = 1).
Through tern: tern asks the operator for a receipt on every part (registered_delivery |= 1), but
hands the customer only the receipts it asked for, so Kannel still makes exactly one DLR
callback per sendsms request, the long one included.
"""

import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Proc, free_port, port_open, wait_until

BEARERBOX = os.environ.get("KANNEL_BEARERBOX", "/usr/sbin/bearerbox")
SMSBOX = os.environ.get("KANNEL_SMSBOX", "/usr/sbin/smsbox")

LONG_TEXT = ("Kannel splits this long message into concatenated parts because it is longer than "
             "one hundred and sixty GSM characters; tern relays every part as it is and the "
             "receipt comes back through Kannel to our DLR URL. End of the long text.")
UCS2_TEXT = "你好，世界！Kannel → Tern 👋"


class DlrServer:
    """Records GET requests (DLR callbacks) on 127.0.0.1."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parsed = urllib.parse.urlsplit(self.path)
                q = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
                with outer.lock:
                    outer.requests.append((parsed.path, q))
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def dlrs(self):
        with self.lock:
            return [q for path, q in self.requests if path == "/dlr"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def kannel_conf(d, tern_port, admin, smsbox, sendsms):
    return f"""\
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = adminpw
status-password = statuspw
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
log-file = "{d}/bearerbox.log"
log-level = 0
access-log = "{d}/access.log"
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = gw
host = 127.0.0.1
port = {tern_port}
transceiver-mode = true
smsc-username = "kannel"
smsc-password = "secret"
system-type = "VMA"
address-range = ""
interface-version = 34
enquire-link-interval = 30
max-pending-submits = 10
reconnect-delay = 2
wait-ack = 60
wait-ack-expire = 0x00

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
global-sender = 12345
log-file = "{d}/smsbox.log"
log-level = 0

group = sendsms-user
username = tester
password = foobar
max-messages = 3
concatenation = true
default-smsc = gw

group = sms-service
keyword = default
catch-all = true
text = "No service specified"
"""


# never through an HTTP proxy from the environment: everything is on 127.0.0.1
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=10):
    try:
        with _opener.open(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Kannel:
    def __init__(self, tmp_path, tern_port):
        self.dir = tmp_path / "kannel"
        self.dir.mkdir()
        self.admin, self.smsbox_port, self.sendsms_port = free_port(), free_port(), free_port()
        self.conf = self.dir / "kannel.conf"
        self.conf.write_text(kannel_conf(self.dir, tern_port, self.admin, self.smsbox_port, self.sendsms_port))
        self.bearerbox = None
        self.smsbox = None

    def status(self):
        try:
            return http_get("http://127.0.0.1:%d/status.txt?password=statuspw" % self.admin, timeout=2)[1]
        except OSError:
            return ""

    def start(self):
        # Kannel runs as root here without complaint; `-u nobody` would be needed only
        # where root is refused.
        self.bearerbox = Proc("bearerbox", [BEARERBOX, "-v", "1", self.conf], self.dir)
        wait_until(lambda: self._alive(self.bearerbox) and "SMSC connections" in self.status(), 15,
                   interval=0.2, what="bearerbox admin port %d" % self.admin)
        wait_until(lambda: self._alive(self.bearerbox) and "(online" in self.status(), 20, interval=0.2,
                   what="bearerbox's SMPP link to tern to come online")
        self.smsbox = Proc("smsbox", [SMSBOX, "-v", "1", self.conf], self.dir)
        wait_until(lambda: self._alive(self.smsbox) and port_open(self.sendsms_port), 15, interval=0.2,
                   what="smsbox sendsms port %d" % self.sendsms_port)
        return self

    def _alive(self, proc):
        if not proc.alive():
            raise AssertionError("%s exited with %s:\n%s" % (proc.name, proc.popen.returncode, proc.tail()))
        return True

    def sendsms(self, **params):
        base = {"username": "tester", "password": "foobar", "from": "12345", "to": "4915112345678",
                "smsc": "gw"}
        base.update(params)
        url = "http://127.0.0.1:%d/cgi-bin/sendsms?%s" % (self.sendsms_port, urllib.parse.urlencode(base))
        return http_get(url)

    def stop(self):
        rcs = {}
        for proc in (self.smsbox, self.bearerbox):
            if proc is not None:
                rcs[proc.name] = proc.stop(signal.SIGTERM, 15)
        return rcs


@pytest.fixture
def dlr_server():
    srv = DlrServer()
    yield srv
    srv.close()


@pytest.fixture
def kannel(tmp_path, tern_node):
    for b in (BEARERBOX, SMSBOX):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            if os.environ.get("TERN_INTEROP_SKIP_KANNEL") == "1":
                pytest.skip("Kannel not installed (TERN_INTEROP_SKIP_KANNEL=1)")
            pytest.fail("%s missing: apt-get install kannel (scripts/test does)" % b, pytrace=False)
    k = Kannel(tmp_path, tern_node.port)
    try:
        yield k.start()
    finally:
        k.stop()
        # keep Kannel's own logs next to the others for a failed run
        for name in ("bearerbox.log", "smsbox.log"):
            p = k.dir / name
            if p.exists():
                shutil.copy(p, tmp_path / ("kannel-" + name))


def test_kannel_sendsms_short_long_ucs2_with_dlrs(kannel, dlr_server, tern_node, smsc_sim):
    def dlr_url(tag):
        return "http://127.0.0.1:%d/dlr?tag=%s&type=%%d&fid=%%F&smsc=%%i&reply=%%A" % (dlr_server.port, tag)

    sends = {
        "short": dict(text="Hello from Kannel via Tern"),
        "long": dict(text=LONG_TEXT),
        "ucs2": dict(text=UCS2_TEXT.encode("utf-8"), coding="2", charset="UTF-8"),
    }
    assert len(LONG_TEXT) > 160
    for tag, params in sends.items():
        status, body = kannel.sendsms(**params, **{"dlr-mask": "3", "dlr-url": dlr_url(tag)})
        assert status == 202, "sendsms %s -> %s %r" % (tag, status, body)
        assert "Accepted for delivery" in body or "Queued" in body, body

    def final_dlrs():
        got = {}
        for q in dlr_server.dlrs():
            if q.get("type") == "1":
                got.setdefault(q.get("tag"), []).append(q)
        return got if set(got) >= set(sends) else None

    got = wait_until(final_dlrs, 30, interval=0.2,
                     what="a delivered DLR (type=1) for each of %s; got %r\ntern log:\n%s"
                     % (list(sends), dlr_server.dlrs(), tern_node.log()))
    time.sleep(1.5)  # let any extra (per-part) callbacks arrive before counting
    got = final_dlrs()
    all_dlrs = dlr_server.dlrs()
    assert Counter(q.get("tag") for q in all_dlrs) == Counter({"short": 1, "long": 1, "ucs2": 1}), all_dlrs
    fids = []
    for tag, qs in got.items():
        q = qs[0]
        assert q["smsc"] == "gw", q
        assert q["fid"].isdigit(), "Kannel's foreign id (tern's message id) %r is not decimal" % q["fid"]
        assert q["reply"].startswith("id:%s " % q["fid"]), q
        assert "stat:DELIVRD" in q["reply"], q
        fids.append(q["fid"])
    assert len(set(fids)) == 3, fids

    subs = smsc_sim.wait_submits(4)
    time.sleep(0.5)
    subs = smsc_sim.submits()
    assert len(subs) == 4, "the simulator saw %d submit_sm: %r" % (len(subs), subs)
    assert Counter(s["data_coding"] for s in subs) == Counter({0: 3, 8: 1}), subs
    parts = [s for s in subs if s["esm_class"] & 0x40]
    assert len(parts) == 2, subs
    udhs = sorted(bytes.fromhex(s["short_message_hex"])[:6] for s in parts)
    assert udhs[0][:3] == udhs[1][:3] == b"\x05\x00\x03" and udhs[0][3] == udhs[1][3], udhs
    assert [u[4:6] for u in udhs] == [b"\x02\x01", b"\x02\x02"], udhs
    ucs = [s for s in subs if s["data_coding"] == 8][0]
    assert bytes.fromhex(ucs["short_message_hex"]).decode("utf-16-be") == UCS2_TEXT
    assert all(s["destination_addr"] == "4915112345678" for s in subs), subs
