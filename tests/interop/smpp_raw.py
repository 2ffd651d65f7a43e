"""A tiny raw SMPP 3.4 client for protocol-level tests (struct.pack, no library).

Every read is bounded by a timeout; nothing here can block forever.
"""

import socket
import struct
import time
from dataclasses import dataclass, field

BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
GENERIC_NACK = 0x80000000
RESP = 0x80000000

ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F

TLV_SAR_MSG_REF_NUM = 0x020C
TLV_SAR_TOTAL_SEGMENTS = 0x020E
TLV_SAR_SEGMENT_SEQNUM = 0x020F
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427

NAMES = {
    0x00000001: "bind_receiver",
    0x00000002: "bind_transmitter",
    0x00000004: "submit_sm",
    0x00000005: "deliver_sm",
    0x00000006: "unbind",
    0x00000009: "bind_transceiver",
    0x00000015: "enquire_link",
    0x80000000: "generic_nack",
}


def name(command_id):
    if command_id in NAMES:
        return NAMES[command_id]
    if command_id & RESP and (command_id & ~RESP) in NAMES:
        return NAMES[command_id & ~RESP] + "_resp"
    return "0x%08x" % command_id


def cstr(value):
    if isinstance(value, str):
        value = value.encode("latin-1")
    return value + b"\x00"


def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value


def header(command_id, body_len, status=0, seq=1):
    return struct.pack(">IIII", 16 + body_len, command_id, status, seq)


def bind_body(system_id, password, system_type="", interface_version=0x34):
    return (cstr(system_id) + cstr(password) + cstr(system_type)
            + struct.pack(">BBB", interface_version, 0, 0) + cstr(""))


def submit_body(short_message, source="4930123456", dest="4915112345678", esm_class=0,
                data_coding=0, registered_delivery=0, tlvs=b""):
    if isinstance(short_message, str):
        short_message = short_message.encode("latin-1")
    return (cstr("")                                   # service_type
            + struct.pack(">BB", 1, 1) + cstr(source)
            + struct.pack(">BB", 1, 1) + cstr(dest)
            + struct.pack(">BBB", esm_class, 0, 0)     # esm_class, protocol_id, priority
            + cstr("") + cstr("")                      # schedule, validity
            + struct.pack(">BBBBB", registered_delivery, 0, data_coding, 0, len(short_message))
            + short_message + tlvs)


@dataclass
class Pdu:
    command_id: int
    status: int
    seq: int
    body: bytes
    fields: dict = field(default_factory=dict)

    @property
    def name(self):
        return name(self.command_id)

    def cstring_body(self):
        """The body as a C-Octet string (message_id / system_id of a *_resp)."""
        return self.body.split(b"\x00", 1)[0].decode("latin-1")

    def __repr__(self):
        return "Pdu(%s status=0x%02x seq=%d body=%s)" % (self.name, self.status, self.seq, self.body[:64].hex())


def parse_sm(body):
    """Parse a submit_sm/deliver_sm body into a dict (mandatory fields + TLVs by tag)."""
    off = 0

    def cs():
        nonlocal off
        end = body.index(b"\x00", off)
        s = body[off:end].decode("latin-1")
        off = end + 1
        return s

    def u8():
        nonlocal off
        v = body[off]
        off += 1
        return v

    f = {}
    f["service_type"] = cs()
    f["source_addr_ton"], f["source_addr_npi"] = u8(), u8()
    f["source_addr"] = cs()
    f["dest_addr_ton"], f["dest_addr_npi"] = u8(), u8()
    f["destination_addr"] = cs()
    f["esm_class"], f["protocol_id"], f["priority_flag"] = u8(), u8(), u8()
    f["schedule_delivery_time"], f["validity_period"] = cs(), cs()
    f["registered_delivery"], f["replace_if_present_flag"] = u8(), u8()
    f["data_coding"], f["sm_default_msg_id"] = u8(), u8()
    sm_len = u8()
    f["short_message"] = body[off:off + sm_len]
    off += sm_len
    tlvs = {}
    while off + 4 <= len(body):
        tag, length = struct.unpack(">HH", body[off:off + 4])
        tlvs[tag] = body[off + 4:off + 4 + length]
        off += 4 + length
    f["tlvs"] = tlvs
    return f


class Closed(Exception):
    """The peer closed the connection."""


class RawSmpp:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self._seq = 0
        self._buf = b""
        self.unsolicited = []  # PDUs read while waiting for something else

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_seq(self):
        self._seq += 1
        return self._seq

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, command_id, body=b"", status=0, seq=None):
        seq = self.next_seq() if seq is None else seq
        self.sock.sendall(header(command_id, len(body), status, seq) + body)
        return seq

    def _fill(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for %d bytes" % n)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("peer closed the connection (%d bytes pending)" % len(self._buf))
            self._buf += chunk

    def read_pdu(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (length,) = struct.unpack(">I", self._buf[:4])
        if length < 16 or length > 1 << 20:
            raise AssertionError("peer sent a bad command_length %d" % length)
        self._fill(length, deadline)
        raw, self._buf = self._buf[:length], self._buf[length:]
        _, cid, status, seq = struct.unpack(">IIII", raw[:16])
        return Pdu(cid, status, seq, raw[16:])

    def expect(self, command_id, seq=None, timeout=None, answer=True):
        """Read PDUs until one with command_id (and seq, if given) arrives.

        Other PDUs are kept in self.unsolicited; enquire_link and deliver_sm from the peer
        are answered when `answer` is set.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no %s (seq %s) within the timeout; got %r"
                                     % (name(command_id), seq, self.unsolicited))
            pdu = self.read_pdu(left)
            if pdu.command_id == command_id and (seq is None or pdu.seq == seq):
                return pdu
            self.unsolicited.append(pdu)
            if answer and pdu.command_id == ENQUIRE_LINK:
                self.send(ENQUIRE_LINK | RESP, seq=pdu.seq)
            elif answer and pdu.command_id == DELIVER_SM:
                self.send(DELIVER_SM | RESP, cstr(""), seq=pdu.seq)

    def request(self, command_id, body=b"", timeout=None):
        """Send a request and wait for its response (same sequence number).

        A generic_nack with the same sequence number also counts as the answer.
        """
        seq = self.send(command_id, body)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no answer to %s seq %d" % (name(command_id), seq))
            pdu = self.read_pdu(left)
            if pdu.seq == seq and pdu.command_id in (command_id | RESP, GENERIC_NACK):
                return pdu
            self.unsolicited.append(pdu)
            if pdu.command_id == ENQUIRE_LINK:
                self.send(ENQUIRE_LINK | RESP, seq=pdu.seq)
            elif pdu.command_id == DELIVER_SM:
                self.send(DELIVER_SM | RESP, cstr(""), seq=pdu.seq)

    def bind(self, command_id, system_id, password, timeout=None):
        return self.request(command_id, bind_body(system_id, password), timeout)

    def submit(self, short_message, timeout=None, **kw):
        return self.request(SUBMIT_SM, submit_body(short_message, **kw), timeout)

    def enquire_link(self, timeout=None):
        return self.request(ENQUIRE_LINK, b"", timeout)

    def unbind(self, timeout=None):
        return self.request(UNBIND, b"", timeout)

    def wait_closed(self, timeout=5.0):
        """Read until the peer closes. Returns the PDUs received before the close.

        Raises socket.timeout if the connection is still open after `timeout`.
        """
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("connection still open after %.1fs; got %r" % (timeout, got))
            try:
                got.append(self.read_pdu(left))
            except Closed:
                return got
            except AssertionError:
                # garbage instead of a PDU: drop it and keep reading until the close
                self._buf = b""
