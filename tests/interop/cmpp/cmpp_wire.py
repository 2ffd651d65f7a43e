"""The bits of CMPP 2.0/3.0 framing the Python peer wrappers need and the libraries lack.

pycmpp 2.0.2 and cmppy 0.3 only build CONNECT/SUBMIT/TERMINATE and parse their responses;
neither reads a DELIVER (status report or MO) nor answers one, and pycmpp's reader does not
handle partial reads. The wrappers use these helpers for that, and only for that: what goes
to the gateway in CONNECT and SUBMIT is what the libraries encode.

Layouts (China Mobile CMPP 2.0 / 3.0 specifications):
  header           Total_Length(4) Command_Id(4) Sequence_Id(4)
  DELIVER 2.0      Msg_Id(8) Dest_Id(21) Service_Id(10) TP_pid(1) TP_udhi(1) Msg_Fmt(1)
                   Src_terminal_Id(21) Registered_Delivery(1) Msg_Length(1) Msg_Content
                   Reserved(8)
  DELIVER 3.0      ... Src_terminal_Id(32) Src_terminal_type(1) Registered_Delivery(1)
                   Msg_Length(1) Msg_Content LinkID(20)
  report 2.0/3.0   Msg_Id(8) Stat(7) Submit_time(10) Done_time(10) Dest_terminal_Id(21|32)
                   SMSC_sequence(4)
  DELIVER_RESP     Msg_Id(8) Result(1 in 2.0, 4 in 3.0)
"""

import socket
import struct
import time

CONNECT = 0x00000001
TERMINATE = 0x00000002
SUBMIT = 0x00000004
DELIVER = 0x00000005
ACTIVE_TEST = 0x00000008
RESP = 0x80000000

NAMES = {CONNECT: "connect", TERMINATE: "terminate", SUBMIT: "submit", DELIVER: "deliver",
         ACTIVE_TEST: "active_test"}

MAX_FRAME = 4096


def cstr(b):
    return b.split(b"\x00", 1)[0].decode("latin-1")


def name(command_id):
    base = NAMES.get(command_id & ~RESP, "0x%08x" % command_id)
    return base + ("_resp" if command_id & RESP else "")


class Closed(Exception):
    pass


class FrameReader:
    """Reads whole CMPP frames from a socket, never past a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self, deadline):
        """(command_id, sequence_id, body) of the next frame; None at the deadline."""
        while True:
            if len(self.buf) >= 12:
                total, = struct.unpack("!L", self.buf[:4])
                if total < 12 or total > MAX_FRAME:
                    raise ValueError("bad Total_Length %d" % total)
                if len(self.buf) >= total:
                    frame, self.buf = self.buf[:total], self.buf[total:]
                    cid, seq = struct.unpack("!LL", frame[4:12])
                    return cid, seq, frame[12:]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(min(left, 1.0))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise Closed("connection closed by the gateway")
            self.buf += chunk


def frame(command_id, seq, body=b""):
    return struct.pack("!LLL", 12 + len(body), command_id, seq) + body


def active_test_resp(seq):
    return frame(ACTIVE_TEST | RESP, seq, b"\x00")  # Reserved(1)


def deliver_resp(seq, msg_id_bytes, version):
    result = b"\x00" if version < 0x30 else b"\x00\x00\x00\x00"
    return frame(DELIVER | RESP, seq, msg_id_bytes + result)


def parse_deliver(body, version):
    """A DELIVER body as a dict; a status report is decoded under 'report'."""
    term = 21 if version < 0x30 else 32
    off = 0

    def take(n):
        nonlocal off
        v = body[off:off + n]
        off += n
        return v

    d = {"msg_id_bytes": take(8)}
    d["dest_id"] = cstr(take(21))
    d["service_id"] = cstr(take(10))
    d["tp_pid"], d["tp_udhi"], d["msg_fmt"] = take(3)
    d["src_terminal_id"] = cstr(take(term))
    if version >= 0x30:
        d["src_terminal_type"] = take(1)[0]
    d["registered_delivery"] = take(1)[0]
    n = take(1)[0]
    content = take(n)
    d["content"] = content
    if d["registered_delivery"] == 1:
        r = {"msg_id_bytes": content[0:8], "stat": cstr(content[8:15]),
             "submit_time": cstr(content[15:25]), "done_time": cstr(content[25:35]),
             "dest_terminal_id": cstr(content[35:35 + term])}
        seq_off = 35 + term
        r["smsc_sequence"] = struct.unpack("!L", content[seq_off:seq_off + 4])[0] \
            if len(content) >= seq_off + 4 else None
        r["msg_id"] = struct.unpack("!Q", r["msg_id_bytes"])[0] if len(r["msg_id_bytes"]) == 8 else None
        d["report"] = r
    return d


def decode_text(content, msg_fmt, udhi=0):
    """Text of a message body (after its UDH when udhi is set), for logging."""
    if udhi and content:
        content = content[content[0] + 1:]
    if msg_fmt == 8:
        return content.decode("utf-16-be", errors="replace")
    if msg_fmt == 15:
        return content.decode("gbk", errors="replace")
    return content.decode("latin-1")
