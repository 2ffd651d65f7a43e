"""TLS on both sides: customer -> tern's tls_listen, tern -> smpps:// upstream (node-smpp over TLS).

Chain: smpplib or node-smpp over TLS -> tern -> TLS -> smsc-sim.js (node-smpp SecureServer)
"""

import json
import os
import re
import socket
import ssl
import subprocess

import pytest

import smpp_raw as raw
from conftest import PEERS
from smpplib_esme import Esme

DECIMAL = re.compile(r"^[0-9]+$")


@pytest.fixture
def tls_chain(tls_files, sim_factory, tern_factory):
    sim = sim_factory(tls=tls_files)
    node = tern_factory(upstream=sim, tls=tls_files)
    return sim, node


def test_smpplib_over_tls_end_to_end(tls_chain, tls_files):
    sim, node = tls_chain
    ctx = ssl.create_default_context(cafile=str(tls_files.ca))
    # smpplib wraps the socket without a server_hostname, so the name check is off; the chain
    # is still verified against our CA.
    ctx.check_hostname = False
    esme = Esme(node.tls_port, ssl_context=ctx)
    try:
        esme.connect_bind("transceiver")
        seq = esme.submit(b"Hello over TLS", registered_delivery=True)
        esme.pump_until(lambda: seq in esme.resps, 15, "submit_sm_resp over TLS")
        status, mid = esme.resps[seq]
        assert status == 0 and DECIMAL.match(mid), (status, mid)
        esme.pump_until(lambda: esme.receipts, 20, "a receipt over TLS")
        rid = esme.receipts[0].receipted_message_id
        assert (rid.decode() if isinstance(rid, bytes) else rid) == mid
    finally:
        esme.close()
    subs = sim.wait_submits(1)
    assert bytes.fromhex(subs[0]["short_message_hex"]) == b"Hello over TLS"


def test_node_smpp_over_tls_end_to_end(tls_chain, tls_files, node_bin):
    sim, node = tls_chain
    env = dict(os.environ, ESME_PORT=str(node.tls_port), ESME_TLS_CA=str(tls_files.ca),
               ESME_GSM_COUNT="2", ESME_UCS2="1", ESME_CONCAT="0", ESME_TIMEOUT_MS="20000")
    proc = subprocess.run([node_bin, str(PEERS / "esme.js")], cwd=PEERS, env=env, capture_output=True,
                          text=True, timeout=30)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, "no summary: %s %s" % (proc.stdout, proc.stderr)
    summary = json.loads(lines[-1])
    assert proc.returncode == 0 and summary["ok"], "%s\n%s\ntern log:\n%s" % (
        json.dumps(summary, indent=1), proc.stderr, node.log())
    ids = {r["message_id"] for r in summary["responses"]}
    assert len(ids) == 3 and {r["receipted_message_id"] for r in summary["receipts"]} >= ids
    assert len(sim.wait_submits(3)) == 3


def test_plaintext_on_tls_port_is_not_served(tls_chain):
    _, node = tls_chain
    with raw.RawSmpp(node.tls_port, timeout=5) as c:
        try:
            c.send_raw(raw.header(raw.BIND_TRANSCEIVER, len(raw.bind_body("smpplib", "secret")))
                       + raw.bind_body("smpplib", "secret"))
            pdu = c.read_pdu(timeout=5)
        except (raw.Closed, AssertionError, ConnectionError):
            return  # closed, or TLS alert bytes that are no PDU: fine
        except socket.timeout:
            return  # still waiting for a TLS ClientHello: fine, nothing was served
        pytest.fail("tern answered a plaintext bind on its TLS port: %r" % pdu)
