"""node-smpp (npm smpp 0.5.1) on both sides of tern.

Chain: peers/esme.js (node-smpp ESME) -> tern -> peers/smsc-sim.js (node-smpp SMSC)
"""

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter

import smpp_raw as raw
from conftest import PEERS

DECIMAL = re.compile(r"^[0-9]+$")


def run_esme(node_bin, port, timeout_ms=20000, **env):
    full_env = {"ESME_PORT": str(port), "ESME_TIMEOUT_MS": str(timeout_ms)}
    full_env.update({k: str(v) for k, v in env.items()})
    e = dict(os.environ)
    e.update(full_env)
    proc = subprocess.run([node_bin, str(PEERS / "esme.js")], cwd=PEERS, env=e, capture_output=True,
                          text=True, timeout=timeout_ms / 1000 + 10)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, "esme.js printed no summary (rc %s)\nstdout: %s\nstderr: %s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc.returncode, json.loads(lines[-1]), proc.stderr


def check_summary(rc, summary, stderr, n_expected, tern):
    detail = "rc=%s summary=%s\nstderr=%s\ntern log:\n%s" % (rc, json.dumps(summary, indent=1), stderr,
                                                            tern.log())
    assert summary["bound"] and summary["bind_status"] == 0, detail
    assert len(summary["responses"]) == n_expected, detail
    assert all(r["status"] == 0 for r in summary["responses"]), detail
    ids = [r["message_id"] for r in summary["responses"]]
    assert all(i and DECIMAL.match(i) for i in ids), detail
    assert len(set(ids)) == len(ids), detail
    receipted = [r["receipted_message_id"] for r in summary["receipts"]]
    assert set(receipted) >= set(ids), "missing receipts for %s\n%s" % (set(ids) - set(receipted), detail)
    assert not summary["unmatched_receipts"], detail
    for r in summary["receipts"]:
        assert r["esm_class"] & 0x04, detail
        assert r["message_state"] == 2, detail
        assert r["text"].startswith("id:%s " % r["receipted_message_id"]), detail
        assert "stat:DELIVRD" in r["text"], detail
    assert summary["unbound"] and summary["ok"] and rc == 0, detail
    return ids


def test_node_smpp_esme_through_tern_to_node_smpp_smsc(node_bin, tern_node, smsc_sim):
    rc, summary, stderr = run_esme(node_bin, tern_node.port, ESME_USER="nodeesme", ESME_PASS="secret",
                                   ESME_GSM_COUNT=3, ESME_UCS2=1, ESME_CONCAT=1)
    check_summary(rc, summary, stderr, 6, tern_node)
    subs = smsc_sim.wait_submits(6)
    assert len(subs) == 6, subs
    assert Counter(s["data_coding"] for s in subs) == Counter({0: 5, 8: 1})
    udh = [s for s in subs if s["short_message_hex"].startswith("050003")]
    assert len(udh) == 2 and all(s["esm_class"] & 0x40 for s in udh), udh
    assert sorted(s["short_message_hex"][:12] for s in udh) == ["050003420201", "050003420202"]
    ucs = [s for s in subs if s["data_coding"] == 8][0]
    assert bytes.fromhex(ucs["short_message_hex"]).decode("utf-16-be") == "你好，世界 — Grüße 👋"


def test_node_smpp_wrong_password(node_bin, tern_node):
    rc, summary, _ = run_esme(node_bin, tern_node.port, ESME_USER="nodeesme", ESME_PASS="nope",
                              timeout_ms=10000)
    assert rc == 1 and not summary["bound"] and summary["bind_status"] == raw.ESME_RINVPASWD, summary


def submit_until_ok(port, deadline_s):
    """Bind and submit, again and again, until a submit_sm_resp has status 0 (bounded)."""
    attempts = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with raw.RawSmpp(port, timeout=5) as c:
                if c.bind(raw.BIND_TRANSCEIVER, "nodeesme", "secret").status == 0:
                    left = max(1.0, min(12.0, deadline - time.monotonic()))
                    resp = c.submit("after the restart", registered_delivery=0, timeout=left)
                    attempts.append((round(time.monotonic(), 1), resp.name, resp.status))
                    try:
                        c.unbind(timeout=2)
                    except Exception:
                        pass
                    if resp.name == "submit_sm_resp" and resp.status == 0:
                        return attempts
        except (OSError, raw.Closed, AssertionError) as e:
            attempts.append((round(time.monotonic(), 1), type(e).__name__, str(e)))
        time.sleep(0.5)
    raise AssertionError("no successful submit within %ss; attempts: %r" % (deadline_s, attempts))


def test_upstream_restart_client_reconnects(node_bin, tern_node, smsc_sim):
    rc, summary, stderr = run_esme(node_bin, tern_node.port, ESME_GSM_COUNT=1, ESME_UCS2=0, ESME_CONCAT=0)
    check_summary(rc, summary, stderr, 1, tern_node)

    # kill the operator side hard and bring it back on the same port
    first = smsc_sim.proc
    smsc_sim.stop(signal.SIGKILL)
    time.sleep(1.0)
    smsc_sim.start()
    t0 = time.monotonic()
    # a submit succeeds again within ~15 s of the operator coming back (20 s bound for slack)
    attempts = submit_until_ok(tern_node.port, 20)
    left = max(1.0, 20 - (time.monotonic() - t0))
    smsc_sim.wait_bound(timeout=left, proc=smsc_sim.proc)
    smsc_sim.wait_submits(1, timeout=max(1.0, 20 - (time.monotonic() - t0)), proc=smsc_sim.proc)
    recovered_s = time.monotonic() - t0
    print("recovered after %.1fs; attempts: %r" % (recovered_s, attempts))

    # and the full chain, receipts included, works again
    rc, summary, stderr = run_esme(node_bin, tern_node.port, ESME_GSM_COUNT=2, ESME_UCS2=0, ESME_CONCAT=0)
    check_summary(rc, summary, stderr, 2, tern_node)
    assert len(smsc_sim.submits(first)) == 1
