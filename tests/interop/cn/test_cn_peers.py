"""The SMSGate SGIP and SMGP peers against each other, with no tern: each client (an SP)
against its own server (the operator's gateway). They keep the harness honest that
../test_sgip.py and ../test_smgp.py drive tern with, and run whatever tern can do.

  sgip-peer client (Bind login type 1, Submits) -> sgip-peer server (the SMG)
  sgip-peer server binds back to the client's listener (login type 2): Reports and Delivers
  smgp-peer client (Login mode 2) <-> smgp-peer server (the SMGW): Submits one way, status
                                      reports and MO Delivers the other
"""

import pytest

from conftest import CMPP_OP_PASS, CMPP_OP_USER, CN_AUTH_FAILED, wait_until

SHORT = "Hello from SMSGate"
ZH = "你好，Tern！网关测试"
LONG_ASCII = ("Tern SGIP and SMGP interop: this ASCII message is longer than one short message can carry, so the "
              "client splits it into concatenated parts with a user data header. Both parts must arrive intact.")
LONG_ZH = ("长短信测试：这是一条很长的中文短信，用来检查网关是否能够正确地拆分和重组超过七十个字符的消息。"
           "每一个分段都有自己的消息编号和状态报告，最后由接收方按照用户数据头重新拼接成完整的内容。谢谢！祝一切顺利。")

CASES = [  # flags, text, parts, Msg_Fmt
    ([], SHORT, 1, 0),
    (["--ucs2"], ZH, 1, 8),
    (["--long"], LONG_ASCII, 2, 0),
    (["--long", "--ucs2"], LONG_ZH, 2, 8),
]

protocols = pytest.mark.parametrize("protocol", ["sgip", "smgp"])


def client_to_server(cn_op_factory, cn_client, protocol):
    """Each case once with a report asked for; returns the operator and the client runs."""
    op = cn_op_factory(protocol)
    listen = {"listen": op.report_port} if protocol == "sgip" else {}
    runs = []
    for flags, text, parts, _ in CASES:
        r = cn_client(protocol, op.port, user=CMPP_OP_USER, secret=CMPP_OP_PASS, texts=[text],
                      flags=flags + ["--report"], **listen)
        detail = r.describe() + "\noperator:\n" + op.tail()
        assert r.rc == 0, detail
        assert r.done["ok"] == r.done["parts"] == r.done["reports"] == parts, detail
        ids = [e["msg_id"] for e in r.of("submit_resp")]
        assert len(set(ids)) == parts, detail
        assert sorted(e["msg_id"] for e in r.of("report")) == sorted(ids), detail
        runs.append(r)
    subs = op.wait_submits(len(CASES))
    assert [(s["text"], s["pk_total"], s["fmt"]) for s in subs] == [(t, p, f) for _, t, p, f in CASES], subs
    for s in subs:
        assert s["src"] == "10658762" and s["dest"] == "13800138000", s
        assert [p["udhi"] for p in s["parts"]] == [1 if s["pk_total"] > 1 else 0] * s["pk_total"], s
        if s["pk_total"] > 1:
            assert [p["concat"]["seq"] for p in s["parts"]] == [1, 2], s
    total = sum(parts for _, _, parts, _ in CASES)
    wait_until(lambda: len(op.events("report_acked")) == total, 10, what="%d acked reports at the operator" % total)
    return op, runs


def test_sgip_client_to_sgip_server(cn_op_factory, cn_client):
    op, runs = client_to_server(cn_op_factory, cn_client, "sgip")
    for r in runs:
        assert r.of("bind_resp")[0]["result"] == 0, r.describe()
        # the Reports came over the SMG's own connection to the SP's listener, login type 2
        assert {e["via"] for e in r.of("report")} == {"listener"}, r.describe()
        assert [e["login_type"] for e in r.of("listener_bind")] == [2], r.describe()
        assert all(e["state"] == 0 and e["error_code"] == 0 for e in r.of("report")), r.describe()
        assert r.of("unbind_resp") == [{"event": "unbind_resp", "ok": True}], r.describe()
    assert {e["login_type"] for e in op.events("bind")} == {1}
    assert {e["result"] for e in op.events("back_bind_resp")} == {0}
    assert all(e["result"] == 0 for e in op.events("report_acked"))


def test_sgip_reports_over_the_sp_connection(cn_op_factory, cn_client):
    """Without --report-to the SMG answers over the SP's own connection (SMSGate's own
    SGIP example does so); the client takes Reports either way."""
    op = cn_op_factory("sgip", connect_back=False)
    r = cn_client("sgip", op.port, user=CMPP_OP_USER, secret=CMPP_OP_PASS, flags=["--report", "--count", "2"])
    assert r.rc == 0 and r.done["reports"] == 2, r.describe()
    assert {e["via"] for e in r.of("report")} == {"link"}, r.describe()


def test_smgp_client_to_smgp_server(cn_op_factory, cn_client):
    op, runs = client_to_server(cn_op_factory, cn_client, "smgp")
    for r in runs:
        assert r.of("login_resp")[0]["status"] == 0 and r.of("login_resp")[0]["version"] == "0x30", r.describe()
        assert all(e["stat"] == "DELIVRD" and e["err"] == "000" for e in r.of("report")), r.describe()
        assert r.of("exit_resp") == [{"event": "exit_resp", "ok": True}], r.describe()
    assert {(e["client_id"], e["login_mode"], e["status"]) for e in op.events("login")} == {(CMPP_OP_USER, 2, 0)}
    assert all(e["result"] == 0 for e in op.events("report_acked"))
    for s in op.submits():
        assert s["need_report"] == s["registered_delivery"] == 1, s
    assert all(p["pdu_hex"] for p in op.events("submit_part"))


@protocols
def test_mo_to_the_sp(cn_op_factory, cn_client, protocol):
    """The operator's MOs, a short one and a long UCS-2 one that SMSGate splits and joins."""
    op = cn_op_factory(protocol, args=["--mo-every-ms", "300", "--mo-count", "2", "--mo-text", LONG_ZH + " {i}"])
    listen = {"listen": op.report_port} if protocol == "sgip" else {}
    r = cn_client(protocol, op.port, user=CMPP_OP_USER, secret=CMPP_OP_PASS, flags=["--count", "0", "--expect-mo", "2"],
                  **listen)
    assert r.rc == 0 and r.done["mo"] == 2, r.describe() + "\noperator:\n" + op.tail()
    assert [(e["text"], e["parts"], e["fmt"]) for e in r.of("mo")] == [
        (LONG_ZH + " 1", 2, 8), (LONG_ZH + " 2", 2, 8)], r.describe()
    assert all(e["src"] == "13800138000" and e["dest"] == "10658762" for e in r.of("mo")), r.describe()
    wait_until(lambda: len(op.events("mo_acked")) == 4, 10, what="4 MO parts acked at the operator")


@protocols
def test_wrong_password_refused(cn_op_factory, cn_client, protocol):
    op = cn_op_factory(protocol)
    r = cn_client(protocol, op.port, user=CMPP_OP_USER, secret="wrong", timeout_s=10)
    # SMSGate refuses with its own codes: SGIP result 1 (illegal login), SMGP status 3
    status = r.done.get("bind_result" if protocol == "sgip" else "login_status")
    assert r.rc == 3 and status == {"sgip": CN_AUTH_FAILED["sgip"], "smgp": 3}[protocol], r.describe()
    assert not op.submits()
    unknown = cn_client(protocol, op.port, user="999999", secret=CMPP_OP_PASS, timeout_s=10)
    assert unknown.rc == 3, unknown.describe()

