"""tern's HTTP API from clients nobody here wrote: the curl command line, Python `requests`,
openapi-spec-validator on the OpenAPI document, schemathesis fuzzing the running API from
that document, a callback receiver that checks the HMAC signature with its own code
(http_receiver.py), and Kannel's and Jasmin's HTTP interfaces called as those gateways'
clients call them.

Each test starts its own node (`[http]` and `[admin]` listeners, the SMSC simulator as its
upstream, which delivers and sends receipts); API keys and callbacks are made with
`tern ctl`, as an operator would.
"""

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import requests
from openapi_spec_validator import OpenAPIV31SpecValidator

from conftest import ACCOUNTS, REPO, free_port, port_open, wait_until
from http_receiver import Receiver, sign, verify_signature

TOKEN = "interop-admin-token"
ACCOUNT, PASSWORD = "shop", "shop-pw"
SECRET = "interop-callback-secret-0123456789"
HTTP_TIMEOUT = 15  # one request
WAIT = 20  # a message's way through the simulator and back


class ApiNode:
    """A started tern node with its HTTP API, its admin API and an API key of `shop`."""

    def __init__(self, tern_bin, node, sim, admin_port, http_port):
        self.tern_bin = tern_bin
        self.node = node
        self.sim = sim
        self.admin_port = admin_port
        self.base = "http://127.0.0.1:%d" % http_port
        self.key = self.new_key()

    def ctl(self, *args, timeout=15):
        """`tern ctl --json ...` against this node; its JSON answer."""
        argv = [str(self.tern_bin), "ctl", "--server", "http://127.0.0.1:%d" % self.admin_port, "--token", TOKEN,
                "--json", *args]
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
            if out.returncode == 0:
                return json.loads(out.stdout)
            if time.monotonic() > deadline:
                raise AssertionError("%s -> %d\n%s%s" % (" ".join(argv[1:]), out.returncode, out.stdout, out.stderr))
            time.sleep(0.3)

    def new_key(self, account=ACCOUNT):
        key = self.ctl("apikey", "create", account, "--label", "interop")["key"]
        # The node takes the new key a moment after the call returns. An unknown key counts
        # as a failed login (five lock the address out), so look only a few times.
        for _ in range(4):
            time.sleep(0.25)
            if self.get("/v1/balance", key=key).status_code != 401:
                return key
        raise AssertionError("the key made by `tern ctl apikey create` is still refused")

    def set_callback(self, url, secret=SECRET):
        reply = self.ctl("account", "callback", ACCOUNT, "--url", url, "--secret", secret)
        assert reply["url"] == url, reply

    def headers(self, key=None, **extra):
        h = {"Authorization": "Bearer " + (key or self.key)}
        h.update(extra)
        return h

    def get(self, path, key=None, **kw):
        return requests.get(self.base + path, headers=self.headers(key), timeout=HTTP_TIMEOUT, **kw)

    def post(self, path, body, key=None, idempotency_key=None):
        headers = self.headers(key)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return requests.post(self.base + path, json=body, headers=headers, timeout=HTTP_TIMEOUT)

    def delete(self, path):
        return requests.delete(self.base + path, headers=self.headers(), timeout=HTTP_TIMEOUT)

    def send(self, to, text, **fields):
        r = self.post("/v1/messages", dict({"to": to, "from": "Shop", "text": text}, **fields))
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()["id"]

    def status(self, message_id):
        r = self.get("/v1/messages/%s" % message_id)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def wait_state(self, message_id, state, timeout=WAIT):
        seen = []

        def reached():
            body = self.status(message_id)
            seen[:] = [body]
            return body if body["state"] == state else None

        try:
            return wait_until(reached, timeout, interval=0.1, what="message %s to be %s" % (message_id, state))
        except AssertionError as e:
            raise AssertionError("%s; last status %r" % (e, seen)) from None

    def submits_to(self, number):
        return [s for s in self.sim.submits() if s.get("destination_addr") == number]


@pytest.fixture
def api(tern_bin, tern_factory, smsc_sim):
    admin_port, http_port = free_port(), free_port()
    extra = ('\n[admin]\nlisten = "127.0.0.1:%d"\ntoken = "%s"\n\n[http]\nlisten = "127.0.0.1:%d"\n'
             % (admin_port, TOKEN, http_port))
    node = tern_factory(upstream=smsc_sim, accounts=list(ACCOUNTS) + [(ACCOUNT, PASSWORD, 4)], extra=extra)
    for port, what in ((http_port, "HTTP API"), (admin_port, "admin API")):
        wait_until(lambda: port_open(port), 15, interval=0.1, what="tern's %s on %d" % (what, port))
    return ApiNode(tern_bin, node, smsc_sim, admin_port, http_port)


def fresh(stamp):
    """A Unix timestamp within the five minutes a receiver accepts."""
    return abs(time.time() - int(stamp)) <= 300


# ---------------------------------------------------------------- curl

def test_curl_sends_with_a_bearer_key_and_the_message_is_delivered(api):
    curl = shutil.which("curl")
    assert curl, "the curl command is needed (scripts/test installs it)"

    def run(*args):
        out = subprocess.run([curl, "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args], capture_output=True,
                             text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        body, _, code = out.stdout.rpartition("\n")
        return int(code), json.loads(body)

    code, accepted = run("-H", "Authorization: Bearer " + api.key, "-H", "Content-Type: application/json",
                         "--data", '{"to": "+491701230001", "from": "Shop", "text": "Hello from curl"}',
                         api.base + "/v1/messages")
    assert code == 201, accepted
    assert accepted["id"].isdigit() and accepted["to"] == "+491701230001", accepted

    def delivered():
        code, status = run("-H", "X-API-Key: " + api.key, api.base + "/v1/messages/" + accepted["id"])
        assert code == 200, status
        return status if status["state"] == "delivered" else None

    status = wait_until(delivered, WAIT, interval=0.2, what="the message sent with curl to be delivered")
    assert (status["id"], status["to"], status["from"], status["parts"]) == (accepted["id"], "491701230001", "Shop", 1)
    [submit] = api.submits_to("491701230001")
    assert bytes.fromhex(submit["short_message_hex"]) == b"Hello from curl"


# ---------------------------------------------------------------- requests

def test_requests_sends_looks_up_batches_and_reads_the_balance(api):
    # One message, with a reference: 201 with its id; delivered, with its history.
    r = api.post("/v1/messages", {"to": "491701230002", "from": "Shop", "text": "order shipped",
                                  "reference": "order-7"})
    assert r.status_code == 201, r.text
    accepted = r.json()
    assert accepted["reference"] == "order-7" and accepted["to"] == "491701230002", accepted
    status = api.wait_state(accepted["id"], "delivered")
    assert status["reference"] == "order-7" and status["parts"] == 1, status
    assert isinstance(status["accepted_at_ms"], int) and isinstance(status["price"], int), status
    steps = [step["state"] for step in status["history"]]
    assert steps[0] == "queued" and "submitted" in steps and steps[-1] == "delivered", status
    assert api.get("/v1/messages", params={"reference": "order-7"}).json() == {"ids": [accepted["id"]]}
    assert api.get("/v1/messages", params={"reference": "no-such-order"}).json() == {"ids": []}

    # A batch of one text to several recipients: each accepted or refused on its own.
    r = api.post("/v1/messages/batch", {"to": ["491701230003", "+491701230004", "49x"],
                                        "message": {"from": "Shop", "text": "sale today"}})
    assert r.status_code == 200, r.text
    batch = r.json()
    assert (batch["accepted"], batch["refused"]) == (2, 1), batch
    assert [res["index"] for res in batch["results"]] == [0, 1, 2]
    refused = batch["results"][2]
    assert "id" not in refused and refused["error"]["code"] == "invalid_destination", refused
    assert refused["error"]["field"] == "to", refused
    # A batch of whole messages.
    r = api.post("/v1/messages/batch", {"messages": [
        {"to": "491701230005", "from": "Shop", "text": "first"},
        {"to": "491701230006", "from": "4930123456", "text": "second", "encoding": "ucs2"},
    ]})
    assert r.status_code == 200, r.text
    ids = [res["id"] for res in batch["results"][:2]] + [res["id"] for res in r.json()["results"]]
    assert r.json()["accepted"] == 2 and len(set(ids)) == 4, (batch, r.json())
    for message_id in ids:
        api.wait_state(message_id, "delivered")
    for number in ("491701230003", "491701230004", "491701230005", "491701230006"):
        assert len(api.submits_to(number)) == 1, (number, api.sim.submits())
    assert api.submits_to("491701230006")[0]["data_coding"] == 8
    r = api.post("/v1/messages/batch", {"to": ["4917%07d" % i for i in range(1001)],
                                        "message": {"from": "Shop", "text": "too many"}})
    assert r.status_code == 400 and r.json()["error"]["field"] == "messages", r.text

    # The balance: the account's use counts the five parts sent.
    def counted():
        r = api.get("/v1/balance")
        assert r.status_code == 200, r.text
        return r.json() if r.json()["parts_total"] >= 5 else None

    balance = wait_until(counted, 10, interval=0.2, what="the balance to count five parts")
    assert balance["account"] == ACCOUNT, balance
    for field in ("balance", "reserved", "period_used", "period_start_ms", "spent_total", "parts_total"):
        assert isinstance(balance[field], int), (field, balance)


def test_a_scheduled_message_is_cancelled_before_it_leaves(api):
    later = int(time.time()) + 3600
    message_id = api.send("491701230010", "tomorrow's reminder", send_at=later)
    assert api.status(message_id)["state"] == "queued"
    r = api.delete("/v1/messages/%s" % message_id)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": message_id, "state": "cancelled"}
    again = api.delete("/v1/messages/%s" % message_id)
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable", again.text
    api.wait_state(message_id, "cancelled")
    # A message at the operator is no longer cancellable; an unknown one is not found.
    sent = api.send("491701230011", "already gone")
    api.wait_state(sent, "delivered")
    gone = api.delete("/v1/messages/%s" % sent)
    assert gone.status_code == 409, gone.text
    assert api.delete("/v1/messages/12345").status_code == 404
    assert not api.submits_to("491701230010"), "the cancelled message reached the operator"


def test_errors_have_one_shape_with_the_field_at_fault(api):
    r = api.post("/v1/messages", {"to": "491701230020", "from": "Shop"})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": {"code": "invalid_request", "message": r.json()["error"]["message"],
                                  "field": "text"}}, r.text
    assert r.json()["error"]["message"], r.text
    r = api.post("/v1/messages", {"to": "49-170", "from": "Shop", "text": "x"})
    assert (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"]) == (400, "invalid_destination", "to")
    r = api.post("/v1/messages", {"to": "491701230020", "from": "Shop", "text": "x", "colour": "red"})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text
    r = requests.post(api.base + "/v1/messages", json={"to": "491701230020", "from": "Shop", "text": "x"},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = api.get("/v1/balance", key="tern_000000000000_" + "0" * 40)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    r = api.get("/v1/messages/12345")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert not api.submits_to("491701230020")


@pytest.mark.parametrize("missing", ["to", "from", "text"])
def test_a_missing_required_field_is_named(api, missing):
    body = {"to": "491701230021", "from": "Shop", "text": "x"}
    del body[missing]
    r = api.post("/v1/messages", body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request", r.text
    assert r.json()["error"].get("field") == missing, r.text


def test_a_retry_with_the_same_idempotency_key_sends_once(api):
    body = {"to": "491701230030", "from": "Shop", "text": "charge once"}
    first = api.post("/v1/messages", body, idempotency_key="order-42")
    assert first.status_code == 201, first.text
    again = api.post("/v1/messages", body, idempotency_key="order-42")
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers.get("idempotent-replayed") == "true", dict(again.headers)
    assert "idempotent-replayed" not in first.headers
    other = api.post("/v1/messages", dict(body, text="charge twice"), idempotency_key="order-42")
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused", other.text
    batch = {"to": ["491701230031", "491701230032"], "message": {"from": "Shop", "text": "batch once"}}
    first_batch = api.post("/v1/messages/batch", batch, idempotency_key="batch-1")
    again_batch = api.post("/v1/messages/batch", batch, idempotency_key="batch-1")
    assert first_batch.status_code == 200 and again_batch.json() == first_batch.json(), again_batch.text
    assert again_batch.headers.get("idempotent-replayed") == "true"

    api.wait_state(first.json()["id"], "delivered")
    for result in first_batch.json()["results"]:
        api.wait_state(result["id"], "delivered")
    time.sleep(1.0)  # a second submit would have reached the simulator by now
    for number in ("491701230030", "491701230031", "491701230032"):
        assert len(api.submits_to(number)) == 1, (number, api.submits_to(number))


# ---------------------------------------------------------------- the OpenAPI document

def test_the_served_openapi_document_is_valid_and_is_the_committed_one(api):
    r = requests.get(api.base + "/openapi.json", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    served = r.json()
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert served == committed, "docs/openapi.json is not the document the server serves"
    assert served["openapi"].startswith("3.1")
    for name, document in (("served /openapi.json", served), ("docs/openapi.json", committed)):
        errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(document).iter_errors()]
        assert not errors, "%s is not a valid OpenAPI 3.1 document: %s" % (name, errors)


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(api, tmp_path):
    # The CLI installed beside this Python (.venv/bin, from tests/interop/requirements.txt).
    st = Path(sys.executable).parent / "schemathesis"
    assert st.is_file(), "schemathesis is not installed beside %s (tests/interop/requirements.txt)" % sys.executable
    argv = [str(st), "run", api.base + "/openapi.json",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--header", "Authorization: Bearer " + api.key,
            # The key is given above: wrong keys made up by the generator would lock this
            # address out (five failed logins) and leave every later case a 403.
            "--generation-with-security-parameters", "false",
            "--max-examples", "100", "--request-timeout", "10", "--max-failures", "20",
            "--generation-database", "none", "--no-color", "--output-truncate", "false",
            "--report", "junit", "--report-dir", str(tmp_path / "schemathesis")]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=150, cwd=tmp_path,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("schemathesis ran over 150 s:\n%s" % (e.stdout or b"")[-4000:]) from None
    (tmp_path / "schemathesis.out").write_text(out.stdout + out.stderr)
    assert out.returncode == 0, "schemathesis failed (%d):\n%s\n%s" % (out.returncode, out.stdout[-12000:],
                                                                       out.stderr[-3000:])
    assert "Authentication failed" not in out.stdout, out.stdout[-6000:]
    assert " passed" in out.stdout and "Test cases:" in out.stdout, out.stdout[-6000:]
    # The run was made with a key that still works: its cases were answered, not refused.
    assert api.get("/v1/balance").status_code == 200


# ---------------------------------------------------------------- signed callbacks

def test_the_receivers_signature_check_refuses_what_it_should():
    body = b'{"type":"receipt","id":"1"}'
    now = int(time.time())
    assert verify_signature(SECRET, sign(SECRET, now, body), body) == (True, "ok")
    assert not verify_signature(SECRET, sign(SECRET, now, body), body + b" ")[0]
    assert not verify_signature(SECRET, sign("another-secret-0123456789", now, body), body)[0]
    assert not verify_signature(SECRET, sign(SECRET, now - 301, body), body)[0]
    assert not verify_signature(SECRET, sign(SECRET, now + 301, body), body)[0]
    assert not verify_signature(SECRET, None, body)[0]
    assert not verify_signature(SECRET, "v1=" + sign(SECRET, now, body).split("v1=")[1], body)[0]


def receipts_by_id(received):
    out = {}
    for r in received:
        body = r.json()
        if body.get("type") == "receipt":
            out.setdefault(body["id"], []).append(r)
    return out


def test_receipts_are_posted_to_the_callback_signed(api):
    receiver = Receiver(secret=SECRET).start()
    try:
        api.set_callback(receiver.url("/hook"))
        ids = [api.send("49170123004%d" % i, "receipt wanted %d" % i) for i in range(3)]
        got = receiver.wait(lambda got: set(ids) <= set(receipts_by_id(got)), WAIT, path="/hook",
                            what="a receipt for each of %s" % ids)
    finally:
        receiver.stop()
    for r in got:
        assert r.method == "POST" and r.headers.get("content-type", "").startswith("application/json"), r
        assert r.signed, "bad signature: %s (%r)" % (r.why, r)
    for i, message_id in enumerate(ids):
        receipt = receipts_by_id(got)[message_id][0].json()
        assert receipt["state"] == "delivered", receipt
        assert (receipt["to"], receipt["from"]) == ("49170123004%d" % i, "Shop"), receipt
        assert (receipt["parts"], receipt["delivered_parts"]) == (1, 1), receipt
        assert receipt["event_id"] and isinstance(receipt["at_ms"], int), receipt
    assert len({receipts_by_id(got)[i][0].json()["event_id"] for i in ids}) == len(ids)


@pytest.mark.timeout(150)
def test_receipts_held_while_the_receiver_is_down_for_a_minute_all_arrive_signed(api):
    """Long (about 75 s, bounded at 150 s): the receiver is down for 60 s, so that tern's
    backoff (1 s doubling) reaches a 32 s wait; every receipt arrives once it is back."""
    receiver = Receiver(secret=SECRET)  # its port refuses connections until start()
    api.set_callback(receiver.url("/hook"))
    down_since = time.monotonic()
    ids = [api.send("49170123005%d" % i, "while the receiver is down %d" % i) for i in range(5)]
    for message_id in ids:
        api.wait_state(message_id, "delivered")
    wait_until(lambda: time.monotonic() - down_since >= 60, 65, interval=0.5, what="a minute")
    receiver.start()
    try:
        # Its first probe comes within the 32 s wait that started before it came up.
        got = receiver.wait(lambda got: set(ids) <= set(receipts_by_id(got)), 40, path="/hook",
                            what="the held receipts of %s" % ids)
        time.sleep(1.0)
        got = receiver.snapshot("/hook")
    finally:
        receiver.stop()
    bad = [r for r in got if not r.signed]
    assert not bad, ["%s: %r" % (r.why, r) for r in bad]
    by_id = receipts_by_id(got)
    assert sorted(by_id) == sorted(ids), by_id.keys()
    assert all(r.json()["state"] == "delivered" for r in got), got


# ---------------------------------------------------------------- Kannel's sendsms

def fetch(url):
    """GET as a plain HTTP client: (status, body text)."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_kannel_sendsms_with_a_dlr_url_is_answered_and_called_back_as_kannel_does(api):
    receiver = Receiver().start()
    try:
        dlr_url = receiver.url("/kannel-dlr") + "?type=%d&to=%p&from=%P&answer=%A&time=%T"
        # As Kannel's users write it: every value URL-encoded, the dlr-url's escapes too.
        url = ("%s/cgi-bin/sendsms?username=%s&password=%s&to=491701230060&from=Shop&text=Hello+from+Kannel"
               "&dlr-mask=31&dlr-url=%s" % (api.base, ACCOUNT, PASSWORD, urllib.parse.quote(dlr_url, safe="")))
        assert fetch(url) == (202, "0: Accepted for delivery")
        got = receiver.wait(lambda got: got, WAIT, path="/kannel-dlr", what="the Kannel dlr-url call")
        time.sleep(0.5)
        got = receiver.snapshot("/kannel-dlr")
    finally:
        receiver.stop()
    assert len(got) == 1, got  # mask 31: only the final report has an event here
    call = got[0]
    assert call.method == "GET", call
    q = call.query()
    assert (q["type"], q["to"], q["from"]) == ("1", "491701230060", "Shop"), q
    assert "stat:DELIVRD" in q["answer"] and q["answer"].startswith("id:"), q
    assert q["time"].isdigit() and fresh(q["time"]), q
    [submit] = api.submits_to("491701230060")
    assert bytes.fromhex(submit["short_message_hex"]) == b"Hello from Kannel"

    wrong = "%s/cgi-bin/sendsms?username=%s&password=wrong&to=491701230061&from=Shop&text=x" % (api.base, ACCOUNT)
    assert fetch(wrong) == (403, "Authorization failed for sendsms")
    assert not api.submits_to("491701230061")


# ---------------------------------------------------------------- Jasmin's HTTP API

def test_jasmin_send_dlr_and_balance_as_its_documentation_shows(api):
    receiver = Receiver().start()
    try:
        # Jasmin's HTTP API examples: urlencode the parameters onto /send.
        params = {"username": ACCOUNT, "password": PASSWORD, "to": "06222172", "content": "Hello"}
        status, text = fetch("%s/send?%s" % (api.base, urllib.parse.urlencode(params)))
        assert status == 200 and text.startswith('Success "') and text.endswith('"'), (status, text)
        plain_id = text[len('Success "'):-1]
        assert plain_id.isdigit(), text

        params.update({"to": "+491701230070", "content": "Hello with a receipt", "dlr": "yes",
                       "dlr-url": receiver.url("/jasmin-dlr"), "dlr-level": 2, "dlr-method": "POST"})
        status, text = fetch("%s/send?%s" % (api.base, urllib.parse.urlencode(params)))
        assert status == 200 and text.startswith('Success "'), (status, text)
        dlr_id = text[len('Success "'):-1]
        got = receiver.wait(lambda got: got, WAIT, path="/jasmin-dlr", what="the Jasmin dlr-url call")
    finally:
        receiver.stop()
    call = got[0]
    assert call.method == "POST", call
    assert call.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"), call.headers
    form = call.form()
    assert (form["id"], form["level"], form["message_status"]) == (dlr_id, "2", "DELIVRD"), form
    # Without dlr=yes Jasmin asks the operator for no receipt: the plain one stays submitted.
    api.wait_state(plain_id, "submitted")
    [plain], [with_dlr] = api.submits_to("06222172"), api.submits_to("491701230070")
    assert (plain["registered_delivery"] & 3, with_dlr["registered_delivery"] & 3) == (0, 1), (plain, with_dlr)
    assert bytes.fromhex(plain["short_message_hex"]) == b"Hello"

    status, text = fetch("%s/balance?%s" % (api.base, urllib.parse.urlencode({"username": ACCOUNT,
                                                                               "password": PASSWORD})))
    assert status == 200, text
    balance = json.loads(text)
    assert set(balance) == {"balance", "sms_count"}, balance

    status, text = fetch("%s/send?username=%s&password=nope&to=491701230071&content=x" % (api.base, ACCOUNT))
    assert (status, text) == (403, 'Error "Authentication failure for username:%s"' % ACCOUNT)
    status, text = fetch("%s/send?username=%s&password=%s&to=491701230071&content=x&colour=red"
                         % (api.base, ACCOUNT, PASSWORD))
    assert (status, text) == (400, 'Error "Argument [colour] is unknown."')
    assert not api.submits_to("491701230071")
