#!/usr/bin/env python3
"""cmppy (PyPI cmppy 0.3, CMPP 3.0) as an SP client, driven in a bounded way.

cmppy opens one TCP connection per message: Cmppy.request(SubmitReq(...)) is CONNECT
(Version 0x30), SUBMIT, read one answer, TERMINATE, close. It has no timeouts, prints hex
dumps on stdout and returns None for a refused CONNECT without its status. This wrapper
runs the same steps through cmppy's own methods (_commence is CONNECT and its answer,
_write/_read/parse_response the SUBMIT and its answer, _terminate the TERMINATE), one at a
time so each outcome can be reported, with a socket timeout and cmppy's prints sent to
stderr.

cmppy encodes every text as UCS-2 (Msg_Fmt 8) and refuses 70 characters or more. A
--long text is sent the way an SP does it with such a library: split into parts of at most
60 characters, each part a message of its own (TP_udhi 1, Pk_total/Pk_number set) whose
content starts with the 6-byte UDH 05 00 03 REF TOTAL SEQ. cmppy only takes text, so the
UDH is passed as the three UTF-16 code units that encode to exactly those six bytes.

--report sets Registered_Delivery=1, but cmppy closes the connection right after the
SUBMIT_RESP, so status reports are not waited for (a DELIVER that arrives before the
TERMINATE_RESP is logged and skipped).

Prints one JSON line per event on stdout, ending with
  {"event":"done","submitted":N,"parts":P,"ok":K}
Exit status: 0 all parts accepted, 1 timeout or I/O error, 3 CONNECT refused, 4 some
SUBMIT_RESP not 0.
"""

import argparse
import contextlib
import json
import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cmpp_wire as w  # noqa: E402
import cmppy  # noqa: E402
from cmppy.request import ConnectReq, SubmitReq  # noqa: E402
from cmppy.response import parse_response  # noqa: E402

PART_CHARS = 60


def emit(event, **kw):
    kw = dict(event=event, **kw)
    sys.__stdout__.write(json.dumps(kw, ensure_ascii=False) + "\n")
    sys.__stdout__.flush()


def udh_as_text(ref, total, seq):
    """05 00 03 ref total seq as three UTF-16BE code units (none of them a surrogate)."""
    raw = bytes([0x05, 0x00, 0x03, ref, total, seq])
    text = raw.decode("utf-16-be")
    assert text.encode("utf-16-be") == raw
    return text


def parts_of(text, long_):
    if not long_:
        return [dict(content=text, pk_total=1, pk_number=1, tp_udhi=0)]
    chunks = [text[i:i + PART_CHARS] for i in range(0, len(text), PART_CHARS)]
    ref = random.randint(1, 255)
    total = len(chunks)
    return [dict(content=udh_as_text(ref, total, n) + chunk, pk_total=total, pk_number=n, tp_udhi=1)
            for n, chunk in enumerate(chunks, 1)]


class Conn(cmppy.Cmppy):
    """cmppy's client with the CONNECT answer kept (its _commence drops the status)."""

    def commence(self):
        self._connect()
        req = ConnectReq(self._sp_id, self._sp_secret)
        self._write(req.message)
        msg = self._read()
        if not msg:
            raise w.Closed("no CONNECT_RESP")
        return parse_response(msg)

    def read_answer(self, want):
        """cmppy's _read until a frame of command `want`; a DELIVER in between is skipped."""
        while True:
            msg = self._read()
            if not msg:
                raise w.Closed("closed while waiting for %s" % w.name(want))
            cid, seq = struct.unpack("!LL", msg[4:12])
            if cid == want:
                return parse_response(msg)
            emit("skipped", command=w.name(cid), seq=seq)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True, help="Source_Addr / sp_id, exactly 6 characters")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--src-id", default="10658762")
    ap.add_argument("--dest", default="13800138000")
    ap.add_argument("--service-id", default="TERN")
    ap.add_argument("--text", action="append", help="a message; repeat for several")
    ap.add_argument("--long", action="store_true", help="split each text into UDH parts of %d characters" % PART_CHARS)
    ap.add_argument("--report", action="store_true", help="Registered_Delivery=1 (reports are not waited for)")
    ap.add_argument("--timeout-s", type=float, default=10, help="per socket operation")
    a = ap.parse_args(argv)

    texts = a.text or ["Hello from cmppy"]
    submitted = parts = ok = 0
    with contextlib.redirect_stdout(sys.stderr):  # cmppy prints its hex dumps
        for i, text in enumerate(texts, 1):
            plan = parts_of(text, a.long)
            submitted += 1
            emit("submit", n=i, text=text, parts=len(plan), dest=a.dest, src=a.src_id)
            for p in plan:
                parts += 1
                socket.setdefaulttimeout(a.timeout_s)
                conn = Conn(a.host, a.port, a.user, a.secret)
                try:
                    res = conn.commence()
                    emit("connect_resp", status=res.status, version="0x%02x" % res.version, part=p["pk_number"])
                    if res.status != 0:
                        emit("done", submitted=submitted, parts=parts, ok=ok, connect_status=res.status,
                             error="CONNECT refused with status %d" % res.status)
                        return 3
                    req = SubmitReq(a.user, p["content"], src_id=a.src_id, dest_terminal_id=[a.dest],
                                    pk_total=p["pk_total"], pk_number=p["pk_number"], tp_udhi=p["tp_udhi"],
                                    registered_delivery=1 if a.report else 0, service_id=a.service_id)
                    conn._write(req.message)
                    res = conn.read_answer(w.SUBMIT | w.RESP)
                    emit("submit_resp", n=i, part=p["pk_number"], parts=p["pk_total"], seq=res.sequence,
                         result=res.result, msg_id=res.msg_id, msg_id_hex="%016x" % res.msg_id)
                    if res.result == 0:
                        ok += 1
                    conn._write(cmppy.TerminateReq().message)
                    conn.read_answer(w.TERMINATE | w.RESP)
                except (OSError, w.Closed, KeyError, struct.error) as e:
                    emit("done", submitted=submitted, parts=parts, ok=ok, error="%s: %s" % (type(e).__name__, e))
                    return 1
                finally:
                    conn._close()
                    socket.setdefaulttimeout(None)
    emit("done", submitted=submitted, parts=parts, ok=ok)
    return 0 if ok == parts else 4


if __name__ == "__main__":
    sys.exit(main())
