"""An HTTP receiver for tern's callbacks, written from the documented contract alone: a
ThreadingHTTPServer on 127.0.0.1 that records every request (GET and POST), and checks the
`Tern-Signature` of signed callbacks with its own HMAC-SHA256, refusing a bad signature or a
timestamp more than 300 s away from its clock (answered 401, as a careful receiver would).

    receiver = Receiver(secret="...").start()
    ... receiver.url("/hook") ...
    receiver.wait(lambda got: len(got) >= 3, timeout=20)
    receiver.stop()

A Receiver can be made on a fixed port and started later: until then the port refuses
connections, which is how a callback endpoint that is down looks to tern.
"""

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port

SIGNATURE_HEADER = "Tern-Signature"
MAX_SKEW_SECS = 300


def verify_signature(secret, header, body, now=None, max_skew=MAX_SKEW_SECS):
    """Checks `t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. Returns (ok, why)."""
    if not header:
        return False, "no %s header" % SIGNATURE_HEADER
    stamp, given = None, []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False, "malformed part %r" % part
        if name == "t":
            stamp = value
        elif name == "v1":
            given.append(value)
    if stamp is None or not stamp.isdigit():
        return False, "no numeric t= in %r" % header
    if not given:
        return False, "no v1= in %r" % header
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > max_skew:
        return False, "timestamp %s is %.0f s from now" % (stamp, now - int(stamp))
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in given):
        return False, "v1 does not match the body"
    return True, "ok"


def sign(secret, stamp, body):
    """A signature header made the documented way (for checking the verifier itself)."""
    mac = hmac.new(secret.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (stamp, mac)


class Received:
    """One request as it arrived."""

    def __init__(self, method, target, headers, body, verdict):
        self.method = method
        self.target = target  # path and raw query string, as sent
        self.path, _, self.raw_query = target.partition("?")
        self.headers = headers  # lower-case names
        self.body = body
        self.at = time.time()
        self.signed, self.why = verdict  # (None, "") when no secret is set

    def query(self):
        """The query parameters, decoded (form encoding: `+` is a space), one value each."""
        return dict(urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True))

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s signed=%s %r>" % (self.method, self.target, self.signed, self.body[:200])


class Receiver:
    def __init__(self, port=None, secret=None, signed_paths=("/hook",)):
        self.port = port or free_port()
        self.secret = secret
        self.signed_paths = tuple(signed_paths)
        self.received = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path.partition("?")[0]
                if receiver.secret is not None and path in receiver.signed_paths:
                    verdict = verify_signature(receiver.secret, headers.get(SIGNATURE_HEADER.lower()), body)
                else:
                    verdict = (None, "")
                with receiver._lock:
                    receiver.received.append(Received(self.command, self.path, headers, body, verdict))
                status = 401 if verdict[0] is False else 200
                answer = b"ACK/Jasmin" if status == 200 else verdict[1].encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="http-receiver-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def snapshot(self, path=None):
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def wait(self, pred, timeout, path=None, what="requests at the receiver"):
        """Polls pred(requests so far) until truthy; fails after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.snapshot(path)
            value = pred(got)
            if value:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.0fs waiting for %s; got %d: %r"
                                     % (timeout, what, len(got), got[-5:]))
            time.sleep(0.05)
