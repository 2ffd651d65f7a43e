"""CMPP 2.0/3.0 interop: pycmpp, cmppy and SMSGate against tern's CMPP server and client.

Chains (tern's side needs its CMPP connector; those tests skip, naming the reason, while
`tern dev --help` has no --cmpp-listen):

  pycmpp (2.0) / cmppy (3.0) / SMSGate client (2.0, 3.0)
      -> tern (CMPP server) -> tern (SMPP client) -> peers/smsc-sim.js
  smpplib (SMPP customer)
      -> tern (SMPP server) -> tern (CMPP client) -> SMSGate server (2.0, 3.0)

The test_peer_* tests run the same peers against SMSGate itself, with no tern: they keep the
harness honest and run whatever tern can do.

The tern configuration these tests assume is built in conftest.tern_cmpp_config.
"""

import random

import pytest
import smpplib.gsm

from conftest import CMPP_ACCOUNTS, wait_until
from smpplib_esme import Esme, as_text, receipt_id

USER, SECRET = CMPP_ACCOUNTS[0][0], CMPP_ACCOUNTS[0][1]
OP_USER, OP_PASS = "901783", "ICP001"

SHORT = "Hello from CMPP"
ZH = "你好，世界！Tern 网关测试"
# 100 characters: two UCS-2 parts whichever way a peer splits (pycmpp: 64, SMSGate: 67,
# cmppy wrapper: 60 characters a part)
LONG_ZH = ("长短信测试：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组超过七十个字符的消息。"
           "每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！祝一切顺利。")
# 200 characters: two parts of 7-bit text whether sent as ASCII/GSM octets (134 a part) or
# packed GSM (153 a part)
LONG_ASCII = ("Tern CMPP interop: this ASCII message is longer than one short message can carry, so the "
              "client splits it into concatenated parts with a user data header. Both parts must arrive intact here. The end!!")
assert len(LONG_ZH) == 100 and len(LONG_ASCII) == 200

STATUS_AUTH = 3  # CONNECT_RESP Status 3: authentication error


def versions(*vs):
    return pytest.mark.parametrize("version", vs, ids=["cmpp%02x" % v for v in vs])


# ---------------------------------------------------------------- SMPP side helpers

def udh_info(body):
    """(ref, total, seq, text bytes) of a short_message that starts with a concatenation UDH."""
    udhl = body[0]
    udh, rest = body[1:1 + udhl], body[1 + udhl:]
    i = 0
    while i + 1 < len(udh):
        iei, iel = udh[i], udh[i + 1]
        v = udh[i + 2:i + 2 + iel]
        if iei == 0x00 and iel == 3:
            return v[0], v[1], v[2], rest
        if iei == 0x08 and iel == 4:
            return (v[0] << 8) | v[1], v[2], v[3], rest
        i += 2 + iel
    raise AssertionError("no concatenation IE in UDH %s" % udh.hex())


def decode(data_coding, octets):
    if data_coding == 8:
        return octets.decode("utf-16-be")
    # 0 (SMSC default / GSM 7-bit unpacked), 1 (IA5/ASCII), 3 (Latin-1): the test texts are ASCII
    return octets.decode("latin-1")


def sim_messages(subs):
    """submit_sm events at smsc-sim -> whole messages: list of dicts text/parts/data_coding/..."""
    singles, groups = [], {}
    for s in subs:
        body = bytes.fromhex(s["short_message_hex"])
        tlvs = s.get("tlvs", {})
        if s["esm_class"] & 0x40:
            ref, total, seq, text = udh_info(body)
        elif "0x020c" in tlvs:
            ref, total, seq, text = int(tlvs["0x020c"], 16), int(tlvs["0x020e"], 16), int(tlvs["0x020f"], 16), body
        else:
            singles.append(dict(text=decode(s["data_coding"], body), parts=1, data_coding=s["data_coding"],
                                dest=s["destination_addr"], src=s["source_addr"],
                                registered_delivery=s["registered_delivery"]))
            continue
        groups.setdefault((s["destination_addr"], ref, total), []).append((seq, s, text))
    out = list(singles)
    for (dest, ref, total), parts in groups.items():
        parts.sort(key=lambda p: p[0])
        assert [p[0] for p in parts] == list(range(1, total + 1)), \
            "parts of ref %d: sequence numbers %r, total %d" % (ref, [p[0] for p in parts], total)
        dcs = {p[1]["data_coding"] for p in parts}
        assert len(dcs) == 1, "parts of one message with different data_coding %r" % dcs
        dc = dcs.pop()
        out.append(dict(text="".join(decode(dc, p[2]) for p in parts), parts=total, data_coding=dc, dest=dest,
                        src=parts[0][1]["source_addr"], registered_delivery=parts[0][1]["registered_delivery"]))
    return out


def check_sim_got(sim, expected, n_submits, tern, timeout=20):
    """The simulator saw n_submits submit_sm making up exactly the messages in expected
    (list of (text, parts))."""
    subs = sim.wait_submits(n_submits, timeout=timeout)
    detail = "submit_sm at the simulator:\n%s\ntern log:\n%s" % ("\n".join(map(str, subs)), tern.log())
    assert len(subs) == n_submits, detail
    got = sim_messages(subs)
    assert sorted((m["text"], m["parts"]) for m in got) == sorted(expected), detail
    for m in got:
        assert m["dest"].endswith("13800138000"), detail
    return got


# ---------------------------------------------------------------- the peers against SMSGate (no tern)

@versions(0x20, 0x30)
def test_peer_smsgate_client_to_smsgate_server(cmpp_op_factory, cmpp_client, version):
    op = cmpp_op_factory(version=version)
    cases = [  # flags, texts, parts
        (["--count", "2"], [SHORT], 2),
        (["--ucs2"], [ZH], 1),
        (["--long"], [LONG_ASCII], 2),
        (["--long", "--ucs2"], [LONG_ZH], 2),
    ]
    total = 0
    for flags, texts, parts in cases:
        r = cmpp_client("smsgate", op.port, user=OP_USER, secret=OP_PASS, version=version, texts=texts,
                        flags=flags + ["--report"])
        assert r.rc == 0, r.describe()
        assert r.of("connect_resp")[0]["status"] == 0, r.describe()
        assert r.done["ok"] == r.done["parts"] == parts and r.done["reports"] == parts, r.describe()
        ids = {e["msg_id"] for e in r.of("submit_resp")}
        assert ids == {e["msg_id"] for e in r.of("report")} and len(ids) == parts, r.describe()
        assert all(e["stat"] == "DELIVRD" for e in r.of("report")), r.describe()
        total += len(texts) * (2 if "--count" in flags else 1)
    subs = op.wait_submits(total)
    assert [(s["text"], s["pk_total"], s["fmt"]) for s in subs] == [
        (SHORT, 1, 0), (SHORT, 1, 0), (ZH, 1, 8), (LONG_ASCII, 2, 0), (LONG_ZH, 2, 8)], subs
    for s in subs:
        assert s["parts"][0]["udhi"] == (1 if s["pk_total"] > 1 else 0)
    wait_until(lambda: len(op.events("report_acked")) == 7, 10, what="7 DELIVER_RESP at the operator")


@versions(0x20, 0x30)
def test_peer_smsgate_wrong_password_refused(cmpp_op_factory, cmpp_client, version):
    op = cmpp_op_factory(version=version)
    r = cmpp_client("smsgate", op.port, user=OP_USER, secret="wrong", version=version)
    assert r.rc == 3 and r.done.get("connect_status") == STATUS_AUTH, r.describe()
    assert not op.submits()


def test_peer_pycmpp_to_smsgate_server(cmpp_op_factory, cmpp_client):
    op = cmpp_op_factory(version=0x20)
    r = cmpp_client("pycmpp", op.port, user=OP_USER, secret=OP_PASS, texts=[SHORT, ZH, LONG_ZH],
                    flags=["--report"])
    assert r.rc == 0, r.describe()
    assert r.done == {"event": "done", "submitted": 3, "parts": 4, "ok": 4, "reports": 4}, r.describe()
    subs = op.wait_submits(3)
    assert [(s["text"], s["pk_total"], s["fmt"]) for s in subs] == [(SHORT, 1, 8), (ZH, 1, 8), (LONG_ZH, 2, 8)]
    assert all(s["src"] == "10658762" and s["dest"] == "13800138000" for s in subs), subs
    assert [e["client_version"] for e in op.events("connect")] == ["0x21"]  # pycmpp's CMPP_VERSION

    bad = cmpp_client("pycmpp", op.port, user=OP_USER, secret="wrong")
    assert bad.rc == 3 and bad.done.get("connect_status") == STATUS_AUTH, bad.describe()


def test_peer_cmppy_to_smsgate_server(cmpp_op_factory, cmpp_client):
    op = cmpp_op_factory(version=0x30)
    r = cmpp_client("cmppy", op.port, user=OP_USER, secret=OP_PASS, texts=[SHORT, ZH])
    assert r.rc == 0 and r.done["ok"] == 2, r.describe()
    long_ = cmpp_client("cmppy", op.port, user=OP_USER, secret=OP_PASS, texts=[LONG_ZH], flags=["--long"])
    assert long_.rc == 0 and long_.done["ok"] == long_.done["parts"] == 2, long_.describe()
    subs = op.wait_submits(3)
    assert [(s["text"], s["pk_total"], s["fmt"]) for s in subs] == [(SHORT, 1, 8), (ZH, 1, 8), (LONG_ZH, 2, 8)]
    assert {e["client_version"] for e in op.events("connect")} == {"0x30"}

    bad = cmpp_client("cmppy", op.port, user=OP_USER, secret="wrong")
    assert bad.rc == 3 and bad.done.get("connect_status") == STATUS_AUTH, bad.describe()


# ---------------------------------------------------------------- CMPP customers -> tern -> SMPP operator

def test_pycmpp_cmpp20_through_tern_to_smpp(cmpp_tern_factory, sim_factory, cmpp_client):
    sim = sim_factory()
    node = cmpp_tern_factory(smpp_upstream=sim)
    r = cmpp_client("pycmpp", node.cmpp_port, texts=[SHORT, ZH, LONG_ZH], flags=["--report"])
    detail = r.describe() + "\ntern log:\n" + node.log()
    assert r.of("connect_resp") and r.of("connect_resp")[0]["status"] == 0, detail
    assert r.rc == 0, detail
    assert r.done["ok"] == r.done["parts"] == 4, detail
    ids = [e["msg_id"] for e in r.of("submit_resp")]
    assert len(set(ids)) == 4, "Msg_Ids not distinct: %s\n%s" % (ids, detail)
    # the status reports come back as CMPP DELIVER (Registered_Delivery=1), one per part
    assert r.done["reports"] == 4 and {e["msg_id"] for e in r.of("report")} == set(ids), detail
    assert all(e["stat"] == "DELIVRD" for e in r.of("report")), detail
    got = check_sim_got(sim, [(SHORT, 1), (ZH, 1), (LONG_ZH, 2)], 4, node)
    for m in got:
        assert m["registered_delivery"] & 0x03, m
        if m["text"] != SHORT:  # pycmpp sends everything as UCS-2; Chinese must stay UCS-2
            assert m["data_coding"] == 8, m


def test_cmppy_cmpp30_through_tern_to_smpp(cmpp_tern_factory, sim_factory, cmpp_client):
    sim = sim_factory()
    node = cmpp_tern_factory(smpp_upstream=sim)
    r = cmpp_client("cmppy", node.cmpp_port, texts=[SHORT, ZH])
    assert r.rc == 0 and r.done["ok"] == 2, r.describe() + "\ntern log:\n" + node.log()
    # a long message whose parts come over two connections of the account (cmppy connects per message)
    long_ = cmpp_client("cmppy", node.cmpp_port, texts=[LONG_ZH], flags=["--long"])
    assert long_.rc == 0 and long_.done["ok"] == long_.done["parts"] == 2, long_.describe() + node.log()
    ids = [e["msg_id"] for e in r.of("submit_resp") + long_.of("submit_resp")]
    assert len(set(ids)) == 4, ids
    got = check_sim_got(sim, [(SHORT, 1), (ZH, 1), (LONG_ZH, 2)], 4, node)
    assert [m["data_coding"] for m in got if m["text"] != SHORT] == [8, 8], got


SMSGATE_CASES = {  # name: (client flags, text, parts)
    "short": ([], SHORT, 1),
    "ucs2": (["--ucs2"], ZH, 1),
    "long": (["--long"], LONG_ASCII, 2),
    "long-ucs2": (["--long", "--ucs2"], LONG_ZH, 2),
}


@versions(0x20, 0x30)
@pytest.mark.parametrize("case", list(SMSGATE_CASES))
def test_smsgate_client_through_tern_to_smpp(cmpp_tern_factory, sim_factory, cmpp_client, version, case):
    flags, text, parts = SMSGATE_CASES[case]
    sim = sim_factory()
    node = cmpp_tern_factory(smpp_upstream=sim)
    r = cmpp_client("smsgate", node.cmpp_port, version=version, texts=[text], flags=flags + ["--report"])
    detail = r.describe() + "\ntern log:\n" + node.log()
    assert r.of("connect_resp") and r.of("connect_resp")[0]["status"] == 0, detail
    assert r.of("connect_resp")[0]["version"] == "0x%02x" % version, detail
    assert r.rc == 0, detail
    assert r.done["ok"] == r.done["parts"] == parts, detail
    ids = [e["msg_id"] for e in r.of("submit_resp")]
    assert all(e["result"] == 0 for e in r.of("submit_resp")) and len(set(ids)) == parts, detail
    # SUBMIT_RESP ok, then the status report as a CMPP DELIVER for each part
    assert r.done["reports"] == parts and {e["msg_id"] for e in r.of("report")} == set(ids), detail
    for e in r.of("report"):
        assert e["stat"] == "DELIVRD", detail
        assert e["dest"].endswith("13800138000"), detail
    got = check_sim_got(sim, [(text, parts)], parts, node)
    if text in (ZH, LONG_ZH):
        assert got[0]["data_coding"] == 8, got


# ---------------------------------------------------------------- SMPP customer -> tern -> CMPP operator

def smpp_customer_to_operator(node, op, texts):
    """smpplib submits texts (split by smpplib.gsm.make_parts) to tern, whose only upstream
    is the SMSGate operator; checks every part is accepted and comes back with a DELIVRD
    receipt made from the operator's CMPP report, and returns the operator's submits."""
    random.seed(11)  # smpplib picks the UDH reference with random
    sent = []  # (part, data_coding, esm_class)
    for text in texts:
        ps, dc, esm = smpplib.gsm.make_parts(text)
        sent += [(p, dc, esm) for p in ps]
    esme = Esme(node.port)
    try:
        esme.connect_bind("transceiver")
        seqs = [esme.submit(p, dc, esm) for p, dc, esm in sent]
        esme.pump_until(lambda: all(s in esme.resps for s in seqs), 20, "submit_sm_resp for every part")
        detail = "resps %r\ntern log:\n%s\noperator:\n%s" % (esme.resps, node.log(), op.tail())
        assert [esme.resps[s][0] for s in seqs] == [0] * len(sent), detail
        ids = [esme.resps[s][1] for s in seqs]
        assert len(set(ids)) == len(sent), detail
        # the operator's CMPP status reports come back to the SMPP customer as receipts
        esme.pump_until(lambda: {receipt_id(r) for r in esme.receipts} >= set(ids), 20,
                        "a receipt for each of %r (got %r)" % (ids, [receipt_id(r) for r in esme.receipts]))
        for r in esme.receipts:
            text = as_text(r.short_message)
            assert r.esm_class & 0x04 and "stat:DELIVRD" in text, (text, detail)
            assert getattr(r, "message_state", None) in (None, 2), (r.message_state, detail)
    finally:
        esme.close()

    subs = op.wait_submits(len(texts))
    detail = "CMPP submits at the operator:\n%s\ntern log:\n%s" % ("\n".join(map(str, subs)), node.log())
    assert sorted((s["text"], s["pk_total"]) for s in subs) == sorted(
        (t, len(smpplib.gsm.make_parts(t)[0])) for t in texts), detail
    for s in subs:
        assert s["dest"].endswith("4915112345678"), detail
        assert s["registered_delivery"] == 1, detail
        if s["pk_total"] > 1:
            assert all(p["udhi"] == 1 for p in s["parts"]), detail
    wait_until(lambda: len(op.events("report_acked")) >= len(sent), 10,
               what="tern's DELIVER_RESP for %d reports" % len(sent))
    assert all(e["result"] == 0 for e in op.events("report_acked")), op.events("report_acked")
    return subs


@versions(0x20, 0x30)
def test_smpp_customer_through_tern_to_smsgate_operator(cmpp_tern_factory, cmpp_op_factory, version):
    """Short GSM, UCS-2 and a two-part UCS-2 message (67 characters a part: 140 octets with
    the UDH, a full CMPP part)."""
    op = cmpp_op_factory(version=version)
    node = cmpp_tern_factory(cmpp_upstream=op)
    subs = smpp_customer_to_operator(node, op, [SHORT, ZH, LONG_ZH])
    for s in subs:
        if s["text"] != SHORT:
            assert s["fmt"] == 8, s
    assert {e["client_version"] for e in op.events("connect")} == {"0x%02x" % version}


@versions(0x20, 0x30)
def test_smpp_long_gsm_through_tern_to_smsgate_operator(cmpp_tern_factory, cmpp_op_factory, version):
    """The usual SMPP concatenated GSM message: parts of 153 septets, sent unpacked with the
    UDH (159 octets, as smpplib, Kannel and most ESMEs do). CMPP allows Msg_Length below 160
    for Msg_Fmt 0, and SMSGate takes such parts."""
    op = cmpp_op_factory(version=version)
    node = cmpp_tern_factory(cmpp_upstream=op)
    smpp_customer_to_operator(node, op, [LONG_ASCII])


# ---------------------------------------------------------------- CONNECT refused

@versions(0x20, 0x30)
def test_wrong_secret_refused_smsgate(cmpp_tern_factory, cmpp_client, version):
    node = cmpp_tern_factory()
    r = cmpp_client("smsgate", node.cmpp_port, secret="wrong", version=version)
    assert r.rc == 3 and r.done.get("connect_status") == STATUS_AUTH, r.describe() + "\n" + node.log()
    ok = cmpp_client("smsgate", node.cmpp_port, version=version, flags=["--count", "0"])
    assert ok.rc == 0 and ok.of("connect_resp")[0]["status"] == 0, ok.describe() + "\n" + node.log()


def test_wrong_secret_refused_pycmpp(cmpp_tern_factory, cmpp_client):
    node = cmpp_tern_factory()
    r = cmpp_client("pycmpp", node.cmpp_port, secret="wrong")
    assert r.rc == 3 and r.done.get("connect_status") == STATUS_AUTH, r.describe() + "\n" + node.log()


def test_unknown_source_addr_refused(cmpp_tern_factory, cmpp_client):
    node = cmpp_tern_factory()
    r = cmpp_client("smsgate", node.cmpp_port, user="999999", secret=SECRET)
    # 2 (illegal source address) or 3 (authentication error): both refuse
    assert r.rc == 3 and r.done.get("connect_status") in (2, 3), r.describe() + "\n" + node.log()
