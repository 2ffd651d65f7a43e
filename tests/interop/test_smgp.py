"""SMGP 3.0 interop: the SMSGate SMGP peer (cn/java/smgp-peer) against tern as the
operator's gateway (SMGW) and as the SP.

  SMSGate SP (Login mode 2)
      -> tern (SMGP server) -> tern (SMPP client) -> peers/smsc-sim.js;
      the receipts come back over the SP's session as status report Delivers
  smpplib (SMPP customer)
      -> tern (SMPP server) -> tern (SMGP client) -> SMSGate SMGW;
      the SMGW's status reports reach the customer as deliver_sm receipts

The peers against each other, with no tern: cn/test_cn_peers.py. The tern configuration
these tests assume is built in conftest.tern_cn_config; they skip while the tern binary
does not take it (conftest.tern_speaks).
"""

import pytest

from cn.chains import LONG_ASCII, LONG_ZH, SHORT, SP_CASES, ZH, smpp_customer_to_operator, \
    sp_through_tern_to_smpp, wrong_password_refused
from conftest import CMPP_OP_USER, tern_speaks

pytestmark = pytest.mark.skipif(not tern_speaks("smgp"), reason="this tern binary has no SMGP connector: "
                                "`tern check-config` refuses an [smgp] listener or an smgp:// upstream")


@pytest.mark.parametrize("case", list(SP_CASES))
def test_smsgate_sp_through_tern_to_smpp(cn_tern_factory, sim_factory, cn_client, case):
    sp_through_tern_to_smpp("smgp", cn_tern_factory, sim_factory, cn_client, case)


def test_smpp_customer_through_tern_to_smsgate_smgw(cn_tern_factory, cn_op_factory):
    """Short GSM, UCS-2 and a two-part UCS-2 message."""
    op, _ = smpp_customer_to_operator("smgp", cn_tern_factory, cn_op_factory, [SHORT, ZH, LONG_ZH])
    logins = op.events("login")
    assert logins and {(e["client_id"], e["status"], e["client_version"]) for e in logins} == {
        (CMPP_OP_USER, 0, "0x30")}, logins


def test_smpp_long_gsm_through_tern_to_smsgate_smgw(cn_tern_factory, cn_op_factory):
    """The usual SMPP concatenated GSM message: parts of 153 septets sent unpacked with the
    UDH (159 octets)."""
    smpp_customer_to_operator("smgp", cn_tern_factory, cn_op_factory, [LONG_ASCII])


def test_wrong_password_refused(cn_tern_factory, cn_client):
    """Login_Resp status 21 (authentication failed) for a wrong shared secret; an unknown
    ClientID is refused too."""
    wrong_password_refused("smgp", cn_tern_factory, cn_client)
