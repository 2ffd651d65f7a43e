"""python-smpplib (PyPI smpplib 2.2.4) as a customer ESME of tern, plus raw-socket protocol cases.

Chain: smpplib / raw socket -> tern (SMPP server) -> tern (SMPP client) -> smsc-sim.js
"""

import random
import re
import signal
import socket
import struct
import time
import urllib.request
from collections import Counter

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

import smpp_raw as raw
from smpplib_esme import Esme, as_text, receipt_id
from conftest import wait_until

DECIMAL = re.compile(r"^[0-9]+$")
RECEIPT_TEXT = re.compile(r"^id:([0-9]+) sub:001 dlvrd:001 submit date:(\d{10}|\d{12}) "
                          r"done date:(\d{10}|\d{12}) stat:DELIVRD err:000 text:")

LONG_GSM = ("Tern interop: this GSM 7-bit message is longer than 160 characters, so smpplib "
            "splits it into concatenated parts with a UDH header. Each part is relayed as is and "
            "gets its own message id and its own delivery receipt. The end.")
UCS2_TEXT = "你好，世界！Tern 网关测试 👋🌍"


# ---------------------------------------------------------------- happy path

def test_submit_short_long_ucs2_and_receipts(tern_node, smsc_sim):
    random.seed(7)  # smpplib picks the UDH reference number with random
    short_parts, short_dc, short_esm = smpplib.gsm.make_parts("Hello from smpplib")
    long_parts, long_dc, long_esm = smpplib.gsm.make_parts(LONG_GSM)
    ucs_parts, ucs_dc, ucs_esm = smpplib.gsm.make_parts(UCS2_TEXT)
    assert len(short_parts) == 1 and short_dc == 0
    assert len(long_parts) == 2 and long_dc == 0 and long_esm == 0x40
    assert len(ucs_parts) == 1 and ucs_dc == smpplib.consts.SMPP_ENCODING_ISO10646 == 8

    sent = ([(p, short_dc, short_esm) for p in short_parts]
            + [(p, long_dc, long_esm) for p in long_parts]
            + [(p, ucs_dc, ucs_esm) for p in ucs_parts])

    esme = Esme(tern_node.port)
    try:
        esme.connect_bind("transceiver")
        seqs = [esme.submit(p, dc, esm) for p, dc, esm in sent]
        esme.pump_until(lambda: all(s in esme.resps for s in seqs), 15, "submit_sm_resp for every part")
        statuses = [esme.resps[s][0] for s in seqs]
        ids = [esme.resps[s][1] for s in seqs]
        assert statuses == [0] * len(sent), "submit_sm_resp statuses %r" % statuses
        for mid in ids:
            assert DECIMAL.match(mid), "message_id %r is not a decimal string" % mid
        assert len(set(ids)) == len(ids), "message ids not distinct: %r" % ids

        esme.pump_until(lambda: {receipt_id(r) for r in esme.receipts} >= set(ids), 20,
                        "a receipt for each of %r (got %r)" % (ids, [receipt_id(r) for r in esme.receipts]))
        by_id = {receipt_id(r): r for r in esme.receipts}
        for mid in ids:
            r = by_id[mid]
            text = as_text(r.short_message)
            assert r.esm_class & 0x04, r.esm_class
            assert as_text(getattr(r, "receipted_message_id", None)) == mid, \
                "receipted_message_id TLV %r for id %s" % (getattr(r, "receipted_message_id", None), mid)
            assert getattr(r, "message_state", None) == 2, "message_state %r" % getattr(r, "message_state", None)
            assert RECEIPT_TEXT.match(text), "receipt text %r" % text
            assert RECEIPT_TEXT.match(text).group(1) == mid, text
        assert not esme.others, "unexpected non-receipt deliver_sm: %r" % esme.others
    finally:
        esme.close()

    subs = smsc_sim.wait_submits(len(sent))
    assert len(subs) == len(sent), "simulator saw %d submit_sm, expected %d" % (len(subs), len(sent))
    assert Counter(s["data_coding"] for s in subs) == Counter(dc for _, dc, _ in sent)
    # Each part is relayed as is: the same octets and UDH indicator reach the operator.
    assert Counter(s["short_message_hex"] for s in subs) == Counter(p.hex() for p, _, _ in sent)
    for s in subs:
        part = bytes.fromhex(s["short_message_hex"])
        if part.startswith(b"\x05\x00\x03"):
            assert s["esm_class"] & 0x40, "UDH part relayed without UDHI: %r" % s
        assert s["registered_delivery"] & 0x01, "receipt not requested upstream: %r" % s


def _submit_sar_parts(port, texts):
    """Sends `texts` as SAR-TLV parts (reference 0x1234) and waits for every part's receipt."""
    with raw.RawSmpp(port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        ids = []
        for i, t in enumerate(texts, start=1):
            tlvs = (raw.tlv(raw.TLV_SAR_MSG_REF_NUM, struct.pack(">H", 0x1234))
                    + raw.tlv(raw.TLV_SAR_TOTAL_SEGMENTS, bytes([len(texts)]))
                    + raw.tlv(raw.TLV_SAR_SEGMENT_SEQNUM, bytes([i])))
            resp = c.submit(t, registered_delivery=1, tlvs=tlvs, timeout=15)
            assert resp.name == "submit_sm_resp" and resp.status == 0, resp
            ids.append(resp.cstring_body())
        assert all(DECIMAL.match(i) for i in ids) and len(set(ids)) == len(texts), ids
        got = {}
        deadline = time.monotonic() + 20
        while set(got) != set(ids):
            assert time.monotonic() < deadline, "receipts for %r, got %r" % (ids, list(got))
            pdu = c.expect(raw.DELIVER_SM, timeout=deadline - time.monotonic())
            c.send(raw.DELIVER_SM | raw.RESP, raw.cstr(""), seq=pdu.seq)
            f = raw.parse_sm(pdu.body)
            assert f["esm_class"] & 0x04
            got[f["tlvs"].get(raw.TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode()] = f
        assert c.unbind().status == 0
    return ids


SAR_TEXTS = [b"First SAR part of a two part message. " * 4, b"Second SAR part."]


def test_sar_parts_go_out_as_sar_on_a_sar_link(tern_factory, smsc_sim):
    """Customer SAR parts: each gets its own id and receipt; a link set to SAR carries them with
    the customer's SAR fields and octets unchanged."""
    node = tern_factory(upstream=smsc_sim, upstream_extra=['concat = "sar"'])
    _submit_sar_parts(node.port, SAR_TEXTS)
    subs = smsc_sim.wait_submits(2)
    assert len(subs) == 2
    for s in subs:
        assert {"0x020c", "0x020e", "0x020f"} <= set(s["tlvs"]), \
            "SAR part not sent as SAR (TLVs %r, short_message %s, esm_class 0x%02x)" % (
                s["tlvs"], s["short_message_hex"][:40], s["esm_class"])
        assert not s["esm_class"] & 0x40, "no UDH on a SAR link"
    for i, s in enumerate(sorted(subs, key=lambda s: s["tlvs"]["0x020f"])):
        assert bytes.fromhex(s["short_message_hex"]) == SAR_TEXTS[i]
        assert s["tlvs"].get("0x020c") == "1234", s["tlvs"]
        assert s["tlvs"].get("0x020e") == "02", s["tlvs"]
        assert s["tlvs"].get("0x020f") == "%02x" % (i + 1), s["tlvs"]


def test_sar_parts_go_out_with_udh_on_a_udh_link(tern_node, smsc_sim):
    """The same parts towards a link that concatenates with UDH (the default): the reference,
    total and sequence travel in a 16-bit concatenation header (0x1234 needs 16 bits)."""
    _submit_sar_parts(tern_node.port, SAR_TEXTS)
    subs = smsc_sim.wait_submits(2)
    assert len(subs) == 2
    seen = []
    for s in subs:
        assert s["esm_class"] & 0x40, "UDHI set"
        body = bytes.fromhex(s["short_message_hex"])
        udh, text = body[:body[0] + 1], body[body[0] + 1:]
        assert udh[1:5] == bytes([0x08, 0x04, 0x12, 0x34]) and udh[5] == 2, udh.hex()
        seen.append((udh[6], text))
    assert sorted(seen) == [(1, SAR_TEXTS[0]), (2, SAR_TEXTS[1])]


# ---------------------------------------------------------------- binds

@pytest.mark.parametrize("system_id,password,status", [
    ("smpplib", "wrong", raw.ESME_RINVPASWD),
    ("nosuchuser", "secret", raw.ESME_RINVSYSID),
])
def test_bind_rejected_smpplib(tern_node, system_id, password, status):
    client = smpplib.client.Client("127.0.0.1", tern_node.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        with pytest.raises(smpplib.exceptions.PDUError) as exc:
            client.bind_transceiver(system_id=system_id, password=password)
        assert exc.value.args[1] == status, "bind status %r, expected 0x%02x" % (exc.value.args, status)
    finally:
        client.disconnect()


@pytest.mark.parametrize("command", [raw.BIND_TRANSMITTER, raw.BIND_RECEIVER, raw.BIND_TRANSCEIVER])
def test_bind_kinds_and_wrong_password_raw(tern_node, command):
    with raw.RawSmpp(tern_node.port) as c:
        resp = c.bind(command, "smpplib", "wrong")
        assert resp.command_id == command | raw.RESP and resp.status == raw.ESME_RINVPASWD, resp
    with raw.RawSmpp(tern_node.port) as c:
        resp = c.bind(command, "smpplib", "secret")
        assert resp.command_id == command | raw.RESP and resp.status == 0, resp
        assert c.unbind().status == 0


def test_max_binds_exceeded(tern_node):
    # account "onebind" has max_binds = 1
    with raw.RawSmpp(tern_node.port) as first, raw.RawSmpp(tern_node.port) as second:
        assert first.bind(raw.BIND_TRANSCEIVER, "onebind", "secret").status == 0
        resp = second.bind(raw.BIND_TRANSCEIVER, "onebind", "secret")
        assert resp.status == raw.ESME_RBINDFAIL, resp
        assert first.unbind().status == 0
    # the slot is free again once the first session is gone
    def rebind():
        with raw.RawSmpp(tern_node.port) as third:
            ok = third.bind(raw.BIND_TRANSCEIVER, "onebind", "secret").status == 0
            if ok:
                third.unbind()
            return ok
    wait_until(rebind, 5, interval=0.2, what="the bind slot to be released after unbind")


# ---------------------------------------------------------------- protocol errors (raw socket)

def test_enquire_link_answered_before_bind(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        resp = c.enquire_link()
        assert resp.name == "enquire_link_resp" and resp.status == 0, resp


def test_submit_before_bind(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        resp = c.submit("too early")
        assert resp.name == "submit_sm_resp", resp
        assert resp.status == raw.ESME_RINVBNDSTS, resp


def test_submit_on_receiver_bind(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        assert c.bind(raw.BIND_RECEIVER, "smpplib", "secret").status == 0
        resp = c.submit("receivers may not submit")
        assert resp.name == "submit_sm_resp" and resp.status == raw.ESME_RINVBNDSTS, resp
        assert c.unbind().status == 0


def test_unknown_command_id_then_enquire_link(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        seq = c.send(0x000000AB, b"\x01\x02\x03")
        nack = c.expect(raw.GENERIC_NACK, seq=seq)
        assert nack.status == raw.ESME_RINVCMDID, nack
        resp = c.enquire_link()
        assert resp.name == "enquire_link_resp" and resp.status == 0, resp
        assert c.unbind().status == 0


@pytest.mark.parametrize("length", [0xFFFFFFFF, 65537, 8, 0])
def test_bad_command_length_nacked_and_closed(tern_node, length):
    with raw.RawSmpp(tern_node.port) as c:
        c.send_raw(struct.pack(">IIII", length, raw.ENQUIRE_LINK, 0, 7))
        got = c.wait_closed(timeout=5)
        nacks = [p for p in got if p.command_id == raw.GENERIC_NACK]
        assert nacks and nacks[0].status == raw.ESME_RINVCMDLEN, \
            "expected generic_nack ESME_RINVCMDLEN before the close, got %r" % got


def test_http_request_on_smpp_port_closes(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        c.send_raw(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        c.wait_closed(timeout=5)
    # and the listener is still serving
    with raw.RawSmpp(tern_node.port) as c:
        assert c.enquire_link().status == 0


# ---------------------------------------------------------------- relay edge cases

def test_no_upstream_submit_gets_error(tern_factory):
    node = tern_factory(upstream=None)
    with raw.RawSmpp(node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        resp = c.submit("nowhere to go", timeout=15)
        assert resp.name == "submit_sm_resp" and resp.status != 0, resp
        assert c.unbind().status == 0


def _receipt_for(c, message_id, timeout):
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, "no receipt for %s" % message_id
        pdu = c.expect(raw.DELIVER_SM, timeout=deadline - time.monotonic())
        c.send(raw.DELIVER_SM | raw.RESP, raw.cstr(""), seq=pdu.seq)
        f = raw.parse_sm(pdu.body)
        if f["tlvs"].get(raw.TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode() == message_id:
            return f


def test_operator_refusal_becomes_a_failed_receipt(tern_factory, sim_factory):
    """Tern acknowledges once the message is durably accepted; the operator's permanent
    refusal (ESME_RINVDSTADR) then comes back as a receipt with a failed state, and the
    message is not sent again."""
    sim = sim_factory(env={"SUBMIT_STATUS": str(0x0B)})
    node = tern_factory(upstream=sim)
    with raw.RawSmpp(node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        resp = c.submit("operator says no", registered_delivery=1, timeout=15)
        assert resp.name == "submit_sm_resp" and resp.status == 0, resp
        f = _receipt_for(c, resp.cstring_body(), 15)
        text = f["short_message"]
        assert b"stat:DELIVRD" not in text and (b"stat:REJECTD" in text or b"stat:UNDELIV" in text), text
        assert c.unbind().status == 0
    time.sleep(1)
    assert len(sim.wait_submits(1)) == 1, "a permanent refusal is not retried"


def test_transient_operator_error_is_retried(tern_factory, sim_factory):
    """ESME_RSUBMITFAIL from the operator is temporary for Tern: the message is sent again
    (with backoff) instead of failing."""
    sim = sim_factory(env={"SUBMIT_STATUS": str(0x45)})
    node = tern_factory(upstream=sim)
    with raw.RawSmpp(node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        resp = c.submit("try again later", timeout=15)
        assert resp.status == 0, resp
        assert c.unbind().status == 0
    assert len(sim.wait_submits(2, timeout=10)) >= 2


def test_sigterm_unbinds_bound_sessions(tern_node, smsc_sim):
    with raw.RawSmpp(tern_node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        tern_node.proc.send_signal(signal.SIGTERM)
        pdu = c.expect(raw.UNBIND, timeout=10)
        c.send(raw.UNBIND | raw.RESP, seq=pdu.seq)
        c.wait_closed(timeout=10)
    rc = tern_node.stop(15)
    assert rc == 0, "exit code %r after SIGTERM\n%s" % (rc, tern_node.log())
    # tern's own link to the operator is unbound too
    wait_until(lambda: [e for e in smsc_sim.events() if e.get("event") == "unbind"], 5,
               what="tern to unbind from the SMSC simulator on SIGTERM")


def test_no_receipt_when_not_requested(tern_node, smsc_sim):
    with raw.RawSmpp(tern_node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        resp = c.submit("no receipt please", registered_delivery=0, timeout=15)
        assert resp.status == 0, resp
        smsc_sim.wait_submits(1)
        # the simulator answers a requested receipt after 50 ms; give it ample time
        with pytest.raises(socket.timeout):
            pdu = c.expect(raw.DELIVER_SM, timeout=2)
            pytest.fail("receipt delivered although none was requested: %r" % raw.parse_sm(pdu.body))
        assert c.unbind().status == 0


def test_metrics_endpoint(tern_node):
    with raw.RawSmpp(tern_node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        assert c.submit("count me", timeout=15).status == 0
        assert c.unbind().status == 0
    url = "http://127.0.0.1:%d/metrics" % tern_node.metrics_port
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1
    with opener.open(url, timeout=5) as r:
        assert r.status == 200
        body = r.read().decode("utf-8")
    samples = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert samples, "no samples at /metrics after a relayed submit:\n%s" % body
    for line in samples:
        assert re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEinfNa]+( [0-9]+)?$", line), line


def read_receipts(c, want, timeout):
    """Collect receipt deliver_sm PDUs on raw connection c (answering them) until `want` ids."""
    got = {}
    deadline = time.monotonic() + timeout
    while not set(want) <= set(got):
        left = deadline - time.monotonic()
        assert left > 0, "receipts for %d ids, got %d: missing %r" % (
            len(want), len(got), sorted(set(want) - set(got))[:10])
        pdu = c.expect(raw.DELIVER_SM, timeout=left)
        c.send(raw.DELIVER_SM | raw.RESP, raw.cstr(""), seq=pdu.seq)
        f = raw.parse_sm(pdu.body)
        assert f["esm_class"] & 0x04, f
        rid = f["tlvs"].get(raw.TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode()
        got[rid] = f
    return got


def test_receipt_goes_to_receiver_bind_of_same_account(tern_node, smsc_sim):
    """Submit on a transmitter bind; the receipt arrives on the account's receiver bind only."""
    with raw.RawSmpp(tern_node.port) as tx, raw.RawSmpp(tern_node.port) as rx, \
            raw.RawSmpp(tern_node.port) as other:
        assert rx.bind(raw.BIND_RECEIVER, "smpplib", "secret").status == 0
        assert other.bind(raw.BIND_RECEIVER, "nodeesme", "secret").status == 0
        assert tx.bind(raw.BIND_TRANSMITTER, "smpplib", "secret").status == 0
        resp = tx.submit("receipt to my receiver", registered_delivery=1, timeout=15)
        assert resp.status == 0, resp
        mid = resp.cstring_body()
        got = read_receipts(rx, [mid], 15)
        f = got[mid]
        assert f["tlvs"].get(raw.TLV_MESSAGE_STATE) == b"\x02", f
        assert RECEIPT_TEXT.match(f["short_message"].decode("latin-1")), f
        with pytest.raises(socket.timeout):
            pdu = other.expect(raw.DELIVER_SM, timeout=1.5)
            pytest.fail("another account's receiver got a receipt: %r" % raw.parse_sm(pdu.body))
        for c in (tx, rx, other):
            assert c.unbind().status == 0


def test_undelivered_receipt_is_reported_as_such(sim_factory, tern_factory):
    sim = sim_factory(env={"RECEIPT_STAT": "UNDELIV"})
    node = tern_factory(upstream=sim)
    with raw.RawSmpp(node.port) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        resp = c.submit("this one fails", registered_delivery=1, timeout=15)
        assert resp.status == 0, resp
        mid = resp.cstring_body()
        f = read_receipts(c, [mid], 15)[mid]
        text = f["short_message"].decode("latin-1")
        assert text.startswith("id:%s " % mid) and "stat:UNDELIV" in text, text
        assert f["tlvs"].get(raw.TLV_MESSAGE_STATE) == b"\x05", f  # UNDELIVERABLE
        assert c.unbind().status == 0


def test_windowed_burst_all_relayed_with_receipts(tern_node, smsc_sim):
    """300 submits with up to 32 outstanding: every one answered, distinct ids, every receipt."""
    total, window = 300, 32
    with raw.RawSmpp(tern_node.port, timeout=30) as c:
        assert c.bind(raw.BIND_TRANSCEIVER, "smpplib", "secret").status == 0
        outstanding, resps, receipts = {}, {}, {}
        sent = 0
        deadline = time.monotonic() + 60
        while len(resps) < total or not set(receipts) >= {r[1] for r in resps.values()}:
            assert time.monotonic() < deadline, "burst: %d/%d answered, %d receipts" % (
                len(resps), total, len(receipts))
            while sent < total and len(outstanding) < window:
                seq = c.send(raw.SUBMIT_SM, raw.submit_body("burst %d" % sent, registered_delivery=1))
                outstanding[seq] = sent
                sent += 1
            pdu = c.read_pdu(timeout=max(0.1, deadline - time.monotonic()))
            if pdu.command_id == raw.SUBMIT_SM | raw.RESP:
                outstanding.pop(pdu.seq)
                resps[pdu.seq] = (pdu.status, pdu.cstring_body())
            elif pdu.command_id == raw.DELIVER_SM:
                c.send(raw.DELIVER_SM | raw.RESP, raw.cstr(""), seq=pdu.seq)
                f = raw.parse_sm(pdu.body)
                receipts[f["tlvs"].get(raw.TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode()] = f
            elif pdu.command_id == raw.ENQUIRE_LINK:
                c.send(raw.ENQUIRE_LINK | raw.RESP, seq=pdu.seq)
            else:
                pytest.fail("unexpected PDU during the burst: %r" % pdu)
        statuses = Counter(st for st, _ in resps.values())
        assert statuses == Counter({0: total}), statuses
        ids = [mid for _, mid in resps.values()]
        assert len(set(ids)) == total and all(DECIMAL.match(i) for i in ids)
        assert set(receipts) == set(ids)
        assert c.unbind().status == 0
    assert len(smsc_sim.wait_submits(total)) == total
