"""SGIP 1.2 interop: the SMSGate SGIP peer (cn/java/sgip-peer) against tern as the SMG and
as the SP.

  SMSGate SP (Bind login type 1, Submits)
      -> tern (SGIP server) -> tern (SMPP client) -> peers/smsc-sim.js;
      tern binds to the SP's listener (login type 2, [sgip.deliver_to]) with the Reports
  smpplib (SMPP customer)
      -> tern (SMPP server) -> tern (SGIP client, login type 1) -> SMSGate SMG;
      the SMG binds back to tern's report_listen (login type 2) with its Reports, which
      reach the customer as deliver_sm receipts

The peers against each other, with no tern: cn/test_cn_peers.py. The tern configuration
these tests assume is built in conftest.tern_cn_config; they skip while the tern binary
does not take it (conftest.tern_speaks).
"""

import pytest

from cn.chains import LONG_ASCII, LONG_ZH, SHORT, SP_CASES, ZH, smpp_customer_to_operator, \
    sp_through_tern_to_smpp, wrong_password_refused
from conftest import CMPP_OP_USER, tern_speaks

pytestmark = pytest.mark.skipif(not tern_speaks("sgip"), reason="this tern binary has no SGIP connector: "
                                "`tern check-config` refuses an [sgip] listener or an sgip:// upstream")


@pytest.mark.parametrize("case", list(SP_CASES))
def test_smsgate_sp_through_tern_to_smpp(cn_tern_factory, sim_factory, cn_client, case):
    sp_through_tern_to_smpp("sgip", cn_tern_factory, sim_factory, cn_client, case)


def test_smpp_customer_through_tern_to_smsgate_smg(cn_tern_factory, cn_op_factory):
    """Short GSM, UCS-2 and a two-part UCS-2 message; tern binds to submit with login
    type 1 and takes the Reports on its report_listen."""
    op, _ = smpp_customer_to_operator("sgip", cn_tern_factory, cn_op_factory, [SHORT, ZH, LONG_ZH])
    assert {(e["login_type"], e["login_name"], e["result"]) for e in op.events("bind")} == {(1, CMPP_OP_USER, 0)}
    assert op.events("back_bind_resp") and {e["result"] for e in op.events("back_bind_resp")} == {0}


def test_smpp_long_gsm_through_tern_to_smsgate_smg(cn_tern_factory, cn_op_factory):
    """The usual SMPP concatenated GSM message: parts of 153 septets sent unpacked with the
    UDH (159 octets), within SGIP's 160."""
    smpp_customer_to_operator("sgip", cn_tern_factory, cn_op_factory, [LONG_ASCII])


def test_wrong_password_refused(cn_tern_factory, cn_client):
    """Bind_Resp result 1 (illegal login) for a wrong password or an unknown login."""
    wrong_password_refused("sgip", cn_tern_factory, cn_client)
