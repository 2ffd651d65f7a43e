'use strict';
// An ESME built on node-smpp (npm `smpp` 0.5.1): binds transceiver, submits a fixed set of
// messages with registered_delivery, collects submit_sm_resp ids and delivery receipts,
// unbinds and prints one JSON summary line on stdout.
//
// Environment:
//   ESME_PORT            port on 127.0.0.1 (required)
//   ESME_USER/ESME_PASS  bind credentials (default nodeesme/secret)
//   ESME_GSM_COUNT       number of short GSM messages (default 3)
//   ESME_UCS2            1 = also send one UCS-2 message (default 1)
//   ESME_CONCAT          1 = also send one 2-part UDH-concatenated GSM message (default 1)
//   ESME_WAIT_RECEIPTS   1 = wait for a receipt per accepted part (default 1)
//   ESME_TIMEOUT_MS      overall deadline (default 20000)
//   ESME_TLS_CA          PEM file: connect with TLS, trusting this CA
//
// Exit code 0 when bound, every submit answered and (if waited for) every receipt matched;
// 1 on a bind failure / error status; 2 on timeout or connection loss. The summary is
// printed in every case.

const fs = require('fs');
const smpp = require('smpp');

const PORT = +(process.env.ESME_PORT || 0);
const USER = process.env.ESME_USER || 'nodeesme';
const PASS = process.env.ESME_PASS || 'secret';
const GSM_COUNT = +(process.env.ESME_GSM_COUNT || 3);
const UCS2 = (process.env.ESME_UCS2 || '1') === '1';
const CONCAT = (process.env.ESME_CONCAT || '1') === '1';
const WAIT_RECEIPTS = (process.env.ESME_WAIT_RECEIPTS || '1') === '1';
const TIMEOUT_MS = +(process.env.ESME_TIMEOUT_MS || 20000);

const summary = {
  bound: false,
  bind_status: null,
  submitted: 0,
  responses: [],   // {label, status, message_id}
  receipts: [],    // {receipted_message_id, message_state, esm_class, text}
  other_deliver_sm: 0,
  unmatched_receipts: [],
  missing_receipts: [],
  unbound: false,
  error: null,
  ok: false,
};

// The messages: GSM text, one UCS-2 message, one pre-split 2-part UDH message.
const messages = [];
for (let i = 1; i <= GSM_COUNT; i++) {
  messages.push({ label: `gsm-${i}`, opts: { data_coding: 0x00, short_message: `Hello from node-smpp #${i}` } });
}
if (UCS2) {
  messages.push({
    label: 'ucs2',
    opts: { data_coding: 0x08, short_message: '你好，世界 — Grüße 👋' },
  });
}
if (CONCAT) {
  const ref = 0x42;
  const text1 = 'Part one of a concatenated message sent by node-smpp. '.repeat(3).slice(0, 153);
  const text2 = 'Part two, the end.';
  messages.push({
    label: 'concat-1/2',
    opts: { data_coding: 0x00, short_message: { udh: Buffer.from([0x05, 0x00, 0x03, ref, 2, 1]), message: text1 } },
  });
  messages.push({
    label: 'concat-2/2',
    opts: { data_coding: 0x00, short_message: { udh: Buffer.from([0x05, 0x00, 0x03, ref, 2, 2]), message: text2 } },
  });
}

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(code));
  setTimeout(() => process.exit(code), 1000).unref();
}

const timer = setTimeout(() => {
  const ids = new Set(summary.receipts.map(r => r.receipted_message_id));
  summary.missing_receipts = summary.responses
    .filter(r => r.status === 0 && !ids.has(r.message_id)).map(r => r.message_id);
  summary.error = summary.error || 'timeout';
  try { session.destroy(); } catch (e) { /* ignore */ }
  finish(2);
}, TIMEOUT_MS);

const TLS_CA = process.env.ESME_TLS_CA;
const session = TLS_CA
  ? smpp.connect({ host: '127.0.0.1', port: PORT, tls: true, ca: fs.readFileSync(TLS_CA) })
  : smpp.connect({ host: '127.0.0.1', port: PORT });

session.on('error', e => {
  summary.error = 'socket error: ' + String(e && e.message);
  clearTimeout(timer);
  finish(2);
});
session.on('close', () => {
  if (!finished && !summary.unbound) {
    summary.error = summary.error || 'connection closed by peer';
    clearTimeout(timer);
    finish(2);
  }
});

session.on('enquire_link', pdu => session.send(pdu.response()));
session.on('unbind', pdu => { session.send(pdu.response()); });

session.on('deliver_sm', pdu => {
  session.send(pdu.response());
  if (pdu.esm_class & 0x04) {
    const text = pdu.short_message && typeof pdu.short_message.message === 'string'
      ? pdu.short_message.message : String(pdu.short_message && pdu.short_message.message);
    summary.receipts.push({
      receipted_message_id: pdu.receipted_message_id === undefined ? null : String(pdu.receipted_message_id),
      message_state: pdu.message_state === undefined ? null : pdu.message_state,
      esm_class: pdu.esm_class,
      text,
    });
    maybeDone();
  } else {
    summary.other_deliver_sm++;
  }
});

function allAnswered() {
  return summary.responses.length === messages.length;
}

function maybeDone() {
  if (finished || !allAnswered()) return;
  const accepted = summary.responses.filter(r => r.status === 0);
  if (accepted.length !== messages.length) {
    return unbindAndExit(1);
  }
  if (WAIT_RECEIPTS) {
    const got = new Set(summary.receipts.map(r => r.receipted_message_id));
    const missing = accepted.filter(r => !got.has(r.message_id));
    if (missing.length) return;
    const ours = new Set(accepted.map(r => r.message_id));
    summary.unmatched_receipts = summary.receipts
      .map(r => r.receipted_message_id).filter(id => !ours.has(id));
  }
  unbindAndExit(0);
}

let unbinding = false;
function unbindAndExit(code) {
  if (unbinding) return;
  unbinding = true;
  summary.ok = code === 0;
  session.unbind(resp => {
    summary.unbound = resp.command_status === 0;
    clearTimeout(timer);
    session.close();
    finish(code);
  });
}

session.on(TLS_CA ? 'secureConnect' : 'connect', () => {
  session.bind_transceiver({ system_id: USER, password: PASS, system_type: '', interface_version: 0x34 }, resp => {
    summary.bind_status = resp.command_status;
    if (resp.command_status !== 0) {
      summary.error = 'bind failed';
      clearTimeout(timer);
      session.close();
      return finish(1);
    }
    summary.bound = true;
    for (const m of messages) {
      const opts = Object.assign({
        source_addr_ton: 1, source_addr_npi: 1, source_addr: '4930123456',
        dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '4915112345678',
        registered_delivery: 1,
      }, m.opts);
      summary.submitted++;
      session.submit_sm(opts, r => {
        summary.responses.push({
          label: m.label,
          status: r.command_status,
          message_id: r.message_id === undefined ? null : String(r.message_id),
        });
        maybeDone();
      });
    }
  });
});
