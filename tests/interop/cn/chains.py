"""The chains through tern that ../test_sgip.py and ../test_smgp.py run, for either protocol:

  SMSGate SP client -> tern (SGIP/SMGP server) -> tern (SMPP client) -> peers/smsc-sim.js,
      the simulator's receipt back to the SP as an SGIP Report / SMGP status report
  smpplib (SMPP customer) -> tern (SMPP server) -> tern (SGIP/SMGP client) -> SMSGate gateway,
      the gateway's report back to the customer as a deliver_sm receipt

What differs between the protocols is in PROTOCOLS.
"""

import collections

import test_cmpp
from conftest import CN_ACCOUNTS, CN_AUTH_FAILED, free_port
from test_cmpp import check_sim_got

ACCOUNT = CN_ACCOUNTS[0][0]

SHORT = "Hello from SMSGate"
ZH = "你好，世界！Tern 网关测试"
# 100 characters: two UCS-2 parts at any split (SMSGate: 67 characters a part)
LONG_ZH = ("长短信测试：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组超过七十个字符的消息。"
           "每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！祝一切顺利。")
# 200 characters: two parts of 7-bit text, as octets (SMSGate: 134 a part) or packed GSM (153)
LONG_ASCII = ("Tern SGIP/SMGP interop: this ASCII message is longer than one short message can carry, so "
              "the client splits it into concatenated parts with a user data header. "
              "Both parts must arrive intact here. End.")
assert len(LONG_ZH) == 100 and len(LONG_ASCII) == 200

SP_CASES = {  # name: (client flags, text, parts)
    "short": ([], SHORT, 1),
    "ucs2": (["--ucs2"], ZH, 1),
    "long": (["--long"], LONG_ASCII, 2),
    "long-ucs2": (["--long", "--ucs2"], LONG_ZH, 2),
}


# What the SP client prints of its login (the event, the status's name there and on the
# final line of a refused run) and whether a report it got says delivered.
Protocol = collections.namedtuple("Protocol", "login_event login_status refusal delivered")
PROTOCOLS = {
    "sgip": Protocol("bind_resp", "result", "bind_result", lambda r: r["state"] == 0 and r["error_code"] == 0),
    "smgp": Protocol("login_resp", "status", "login_status", lambda r: r["stat"] == "DELIVRD"),
}


def sp_node(protocol, cn_tern_factory, smpp_upstream=None):
    """A tern node for SP clients; with SGIP, tern sends their Reports to a listener the
    client opens at the returned port. -> (node, client keyword arguments)"""
    if protocol == "sgip":
        listen = free_port()
        node = cn_tern_factory("sgip", smpp_upstream=smpp_upstream, deliver_to={ACCOUNT: ("127.0.0.1", listen)})
        return node, {"listen": listen}
    return cn_tern_factory(protocol, smpp_upstream=smpp_upstream), {}


def sp_through_tern_to_smpp(protocol, cn_tern_factory, sim_factory, cn_client, case):
    p = PROTOCOLS[protocol]
    flags, text, parts = SP_CASES[case]
    sim = sim_factory()
    node, kw = sp_node(protocol, cn_tern_factory, smpp_upstream=sim)
    r = cn_client(protocol, node.cn_port, texts=[text], flags=flags + ["--report"], **kw)
    detail = r.describe() + "\ntern log:\n" + node.log()
    assert r.of(p.login_event) and r.of(p.login_event)[0][p.login_status] == 0, detail
    assert r.rc == 0, detail
    assert r.done["ok"] == r.done["parts"] == parts, detail
    ids = [e["msg_id"] for e in r.of("submit_resp")]
    assert len(set(ids)) == parts, detail
    # a delivered report for each part, matched by the part's id
    assert r.done["reports"] == parts and sorted(e["msg_id"] for e in r.of("report")) == sorted(ids), detail
    assert all(p.delivered(e) for e in r.of("report")), detail
    if protocol == "sgip":
        # tern bound to the SP's listener as the SMG does: login type 2, the SP's own login
        assert {e["via"] for e in r.of("report")} == {"listener"}, detail
        assert {(e["login_type"], e["login_name"], e["result"]) for e in r.of("listener_bind")} == {
            (2, ACCOUNT, 0)}, detail
        assert all(e["user_number"].endswith("13800138000") for e in r.of("report")), detail
    else:
        assert all(e["src_term"].endswith("13800138000") for e in r.of("report")), detail
    got = check_sim_got(sim, [(text, parts)], parts, node)
    if text in (ZH, LONG_ZH):
        assert got[0]["data_coding"] == 8, got
    assert all(m["registered_delivery"] & 0x03 for m in got), got


def smpp_customer_to_operator(protocol, cn_tern_factory, cn_op_factory, texts):
    """test_cmpp's chain from an SMPP customer to an SMSGate operator, with the SGIP or SMGP
    gateway as the operator (its lines carry the CMPP peer's names where they matter:
    registered_delivery, the result of report_acked): every part accepted, a DELIVRD receipt
    for each from the gateway's report, the whole messages at the gateway. -> (op, submits)"""
    op = cn_op_factory(protocol)
    node = cn_tern_factory(protocol, cn_upstream=op)
    subs = test_cmpp.smpp_customer_to_operator(node, op, texts)
    for s in subs:
        if s["text"] in (ZH, LONG_ZH):
            assert s["fmt"] == 8, s
    return op, subs


def wrong_password_refused(protocol, cn_tern_factory, cn_client):
    p = PROTOCOLS[protocol]
    node, kw = sp_node(protocol, cn_tern_factory)
    r = cn_client(protocol, node.cn_port, secret="wrong", timeout_s=10, **kw)
    assert r.rc == 3 and r.done.get(p.refusal) == CN_AUTH_FAILED[protocol], r.describe() + "\n" + node.log()
    unknown = cn_client(protocol, node.cn_port, user="999999", timeout_s=10, **kw)
    assert unknown.rc == 3 and unknown.done.get(p.refusal), unknown.describe() + "\n" + node.log()
    ok = cn_client(protocol, node.cn_port, flags=["--count", "0"], timeout_s=10, **kw)
    assert ok.rc == 0 and ok.of(p.login_event)[0][p.login_status] == 0, ok.describe() + "\n" + node.log()
