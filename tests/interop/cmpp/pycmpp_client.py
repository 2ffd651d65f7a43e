#!/usr/bin/env python3
"""pycmpp (PyPI pycmpp 2.0.2, CMPP 2.0) as an SP client, driven in a bounded way.

pycmpp's own loop, Cmpp.run(), connects, authenticates and then blocks in receive()
forever (and starts a heartbeat thread that never ends); its handlers only log, it has no
DELIVER handling at all, and its ACTIVE_TEST_RESP is malformed (13 bytes announced, 16
sent). So this wrapper uses pycmpp for what it does implement, unchanged:

  * Cmpp.connect() + Cmpp.auth(): the CONNECT (Version 0x21, pycmpp's CMPP_VERSION),
  * Cmpp.submit(): SUBMIT in the 2.0 layout, UCS-2 (Msg_Fmt 8); texts of 70 characters or
    more are split by pycmpp into 64-character parts with a 05 00 03 UDH (TP_udhi 1),
  * ConnectResponseInstance / SubmitResponseInstance to parse the answers,

and does the rest itself, bounded by --timeout-s: reading whole frames, answering
ACTIVE_TEST and DELIVER (DELIVER_RESP), decoding status reports, TERMINATE at the end.

pycmpp's submit() ignores the src_id given to Cmpp() and sends an empty Src_Id; with
--src-id (default 10658762) the wrapper fills it in through pycmpp's own
SubmitRequestInstance.create(src_id=...); --src-id "" keeps pycmpp's behaviour.

Prints one JSON line per event on stdout and ends with
  {"event":"done","submitted":N,"parts":P,"ok":K,"reports":R}
Exit status: 0 all parts accepted (and with --report all reports in), 1 timeout,
3 CONNECT refused (status in the connect_resp line), 4 some SUBMIT_RESP not 0.
"""

import argparse
import json
import logging
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cmpp_wire as w  # noqa: E402
import pycmpp.cmpp  # noqa: E402
import pycmpp.utils  # noqa: E402
from pycmpp.cmpp import Cmpp  # noqa: E402
from pycmpp.request import SubmitRequestInstance  # noqa: E402
from pycmpp.response import ConnectResponseInstance, SubmitResponseInstance  # noqa: E402

VERSION = 0x20  # the layout pycmpp encodes and decodes


def emit(event, **kw):
    kw = dict(event=event, **kw)
    sys.stdout.write(json.dumps(kw, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def with_src_id(src_id):
    """pycmpp's SubmitRequestInstance, with Src_Id filled in when the caller left it empty."""

    class Submit(SubmitRequestInstance):
        def create(self, *args, **kwargs):
            if not kwargs.get("src_id"):
                kwargs["src_id"] = src_id
            return super().create(*args, **kwargs)

    return Submit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True, help="Source_Addr / sp_id, exactly 6 characters")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--src-id", default="10658762")
    ap.add_argument("--dest", default="13800138000")
    ap.add_argument("--text", action="append", help="a message; repeat for several (default: one short text)")
    ap.add_argument("--report", action="store_true", help="Registered_Delivery=1 and wait for the reports")
    ap.add_argument("--timeout-s", type=float, default=20)
    ap.add_argument("--verbose", action="store_true", help="pycmpp's own log on stderr")
    a = ap.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if a.verbose else logging.WARNING)
    deadline = time.monotonic() + a.timeout_s
    texts = a.text or ["Hello from pycmpp"]
    if a.src_id:
        pycmpp.cmpp.SubmitRequestInstance = with_src_id(a.src_id)

    c = Cmpp(host=a.host, port=a.port, sp_id=a.user, sp_secret=a.secret, src_id=a.src_id,
             delivery=1 if a.report else 0, client_heartbeat=False)
    c.so.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        c.connect()
    except OSError as e:
        emit("done", submitted=0, parts=0, ok=0, reports=0, error="TCP connect failed: %s" % e)
        return 2
    reader = w.FrameReader(c.so)
    resps, reports, wanted = {}, {}, set()
    sent_seqs = []

    def pump(until):
        """Read frames, answering what needs an answer, until until() or the deadline."""
        while not until():
            got = reader.read(deadline)
            if got is None:
                return False
            cid, seq, body = got
            if cid == w.CONNECT | w.RESP:
                r = ConnectResponseInstance()
                r.resolve(w.frame(cid, seq, body))
                resps["connect"] = r.status
                emit("connect_resp", status=r.status, version="0x%02x" % r.version)
            elif cid == w.SUBMIT | w.RESP:
                r = SubmitResponseInstance()
                r.resolve(w.frame(cid, seq, body))
                resps[seq] = (r.status, r.msg_id)
                emit("submit_resp", seq=seq, result=r.status, msg_id=r.msg_id, msg_id_hex="%016x" % r.msg_id)
                if r.status == 0 and a.report and r.msg_id not in reports:
                    wanted.add(r.msg_id)
            elif cid == w.DELIVER:
                d = w.parse_deliver(body, VERSION)
                c.send(w.deliver_resp(seq, d["msg_id_bytes"], VERSION))
                rep = d.get("report")
                if rep:
                    reports[rep["msg_id"]] = rep
                    wanted.discard(rep["msg_id"])
                    emit("report", msg_id=rep["msg_id"], msg_id_hex="%016x" % rep["msg_id"], stat=rep["stat"],
                         dest=rep["dest_terminal_id"], submit_time=rep["submit_time"], done_time=rep["done_time"])
                else:
                    emit("mo", src=d["src_terminal_id"], dest=d["dest_id"], msg_fmt=d["msg_fmt"],
                         text=w.decode_text(d["content"], d["msg_fmt"], d["tp_udhi"] & 1))
            elif cid == w.ACTIVE_TEST:
                c.send(w.active_test_resp(seq))
            elif cid == w.TERMINATE:
                c.send(w.frame(w.TERMINATE | w.RESP, seq))
                raise w.Closed("the gateway sent TERMINATE")
            elif cid == w.TERMINATE | w.RESP:
                resps["terminate"] = True
            else:
                emit("unexpected", command=w.name(cid), seq=seq)
        return True

    try:
        c.auth()
        if not pump(lambda: "connect" in resps):
            emit("done", submitted=0, parts=0, ok=0, reports=0, timeout=True, error="no CONNECT_RESP")
            return 1
        if resps["connect"] != 0:
            emit("done", submitted=0, parts=0, ok=0, reports=0, connect_status=resps["connect"],
                 error="CONNECT refused with status %d" % resps["connect"])
            return 3
        for i, text in enumerate(texts, 1):
            first = pycmpp.utils._global_seq_no + 1
            c.submit(text, [a.dest])
            seqs = list(range(first, pycmpp.utils._global_seq_no + 1))
            sent_seqs += seqs
            emit("submit", n=i, text=text, parts=len(seqs), seqs=seqs, dest=a.dest, src=a.src_id)
        done = pump(lambda: all(s in resps for s in sent_seqs) and not wanted)
        ok = sum(1 for s in sent_seqs if resps.get(s, (None,))[0] == 0)
        c.terminate()
        pump(lambda: "terminate" in resps)
    except (OSError, w.Closed, ValueError) as e:
        emit("done", submitted=len(texts), parts=len(sent_seqs), ok=0, reports=len(reports), error=str(e))
        return 1
    finally:
        c.close()
    out = dict(submitted=len(texts), parts=len(sent_seqs), ok=ok, reports=len(reports))
    if not done:
        out.update(timeout=True, missing_resps=[s for s in sent_seqs if s not in resps],
                   missing_reports=["%016x" % m for m in wanted])
    emit("done", **out)
    if not done:
        return 1
    return 0 if ok == len(sent_seqs) else 4


if __name__ == "__main__":
    sys.exit(main())
