'use strict';
// A small operator SMSC simulator built on node-smpp (npm `smpp` 0.5.1).
//
// Tern binds to it as an ESME. It accepts binds with SMSC_USER/SMSC_PASS, answers every
// submit_sm with a decimal message id and, when a receipt was requested, sends a
// deliver_sm receipt after DLR_DELAY_MS.
//
// Environment:
//   SMSC_PORT           port on 127.0.0.1 (required; 0 = any free port)
//   SMSC_USER/SMSC_PASS credentials accepted on bind (default kannel/secret)
//   DLR_DELAY_MS        delay before a receipt is sent (default 50)
//   SUBMIT_STATUS       command_status for every submit_sm_resp (default 0)
//   RECEIPT_STAT        stat: word in the receipt text (default DELIVRD)
//   SMSC_TLS_CERT/SMSC_TLS_KEY  PEM files: listen with TLS instead of plain TCP
//   SMSC_WINDOW         receipts outstanding per session, like a real SMSC's window (default 10)
//   RETRY_MS            delay before a receipt refused with ESME_RTHROTTLED/ESME_RMSGQFUL
//                       is sent again (default 200; at most 50 tries)
//
// Every event is printed on stdout as one JSON line, e.g.
//   {"event":"listening","port":2776}
//   {"event":"bind","command":"bind_transceiver","system_id":"kannel","ok":true}
//   {"event":"submit_sm","message_id":"1","esm_class":64,"data_coding":0,"sm_length":140,...}
// so the tests can assert on what actually reached the operator side.
// SIGTERM/SIGINT: close listener and sessions, print {"event":"exit"} and exit 0.

const fs = require('fs');
const smpp = require('smpp');

const PORT = +(process.env.SMSC_PORT || 0);
const USER = process.env.SMSC_USER || 'kannel';
const PASS = process.env.SMSC_PASS || 'secret';
const DLR_DELAY_MS = +(process.env.DLR_DELAY_MS || 50);
const SUBMIT_STATUS = +(process.env.SUBMIT_STATUS || 0);
const RECEIPT_STAT = process.env.RECEIPT_STAT || 'DELIVRD';
const WINDOW = +(process.env.SMSC_WINDOW || 10);
const RETRY_MS = +(process.env.RETRY_MS || 200);
const RETRY_STATUSES = new Set([0x58, 0x14]); // ESME_RTHROTTLED, ESME_RMSGQFUL

let nextId = 1;
let nextSession = 1;
const out = obj => process.stdout.write(JSON.stringify(obj) + '\n');
const p2 = n => String(n).padStart(2, '0');
const ts = d => p2(d.getUTCFullYear() % 100) + p2(d.getUTCMonth() + 1) + p2(d.getUTCDate()) +
  p2(d.getUTCHours()) + p2(d.getUTCMinutes());

// Keep the raw bytes of every decoded PDU: node-smpp decodes short_message into text,
// the tests want to see the octets that went over the wire.
const origFromBuffer = smpp.PDU.prototype.fromBuffer;
smpp.PDU.prototype.fromBuffer = function (buffer) {
  Object.defineProperty(this, 'raw', { value: Buffer.from(buffer), enumerable: false });
  return origFromBuffer.call(this, buffer);
};

// Parse the mandatory part of a submit_sm body by hand (SMPP 3.4 §4.4.1) and its TLVs.
function parseSubmit(raw) {
  let off = 16;
  const cstr = () => {
    const end = raw.indexOf(0, off);
    if (end < 0) throw new Error('unterminated C-Octet string');
    const s = raw.slice(off, end).toString('latin1');
    off = end + 1;
    return s;
  };
  const u8 = () => raw[off++];
  const f = {};
  f.service_type = cstr();
  f.source_addr_ton = u8(); f.source_addr_npi = u8(); f.source_addr = cstr();
  f.dest_addr_ton = u8(); f.dest_addr_npi = u8(); f.destination_addr = cstr();
  f.esm_class = u8(); f.protocol_id = u8(); f.priority_flag = u8();
  f.schedule_delivery_time = cstr(); f.validity_period = cstr();
  f.registered_delivery = u8(); f.replace_if_present_flag = u8();
  f.data_coding = u8(); f.sm_default_msg_id = u8();
  f.sm_length = u8();
  f.short_message_hex = raw.slice(off, off + f.sm_length).toString('hex');
  off += f.sm_length;
  f.tlvs = {};
  while (off + 4 <= raw.length) {
    const tag = raw.readUInt16BE(off);
    const len = raw.readUInt16BE(off + 2);
    f.tlvs['0x' + tag.toString(16).padStart(4, '0')] = raw.slice(off + 4, off + 4 + len).toString('hex');
    off += 4 + len;
  }
  return f;
}

const serverOptions = process.env.SMSC_TLS_CERT
  ? { cert: fs.readFileSync(process.env.SMSC_TLS_CERT), key: fs.readFileSync(process.env.SMSC_TLS_KEY) }
  : {};

const server = smpp.createServer(serverOptions, session => {
  const sid = nextSession++;
  let bound = false;
  // Receipts go out through a window, and throttled ones are retried, as a real SMSC does.
  const queue = [];
  let inflight = 0;
  function pump() {
    while (inflight < WINDOW && queue.length) {
      const item = queue.shift();
      inflight++;
      const sent = session.deliver_sm(Object.assign({}, item.pdu), resp => {
        inflight--;
        out({ event: 'deliver_sm_resp', session: sid, message_id: item.id, status: resp.command_status,
              attempt: item.attempt });
        if (RETRY_STATUSES.has(resp.command_status) && item.attempt < 50) {
          item.attempt++;
          setTimeout(() => { queue.push(item); pump(); }, RETRY_MS);
        }
        pump();
      });
      if (!sent) {
        inflight--;
        out({ event: 'deliver_sm_unsent', session: sid, message_id: item.id });
        return;
      }
      out({ event: 'deliver_sm', session: sid, message_id: item.id, attempt: item.attempt });
    }
  }
  out({ event: 'connect', session: sid });
  session.on('error', e => out({ event: 'session_error', session: sid, error: String(e && e.message) }));
  session.on('close', () => out({ event: 'close', session: sid }));
  for (const cmd of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
    session.on(cmd, pdu => {
      const ok = pdu.system_id === USER && pdu.password === PASS;
      out({ event: 'bind', session: sid, command: cmd, system_id: pdu.system_id, ok });
      if (!ok) {
        session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
        session.close();
        return;
      }
      bound = true;
      session.send(pdu.response({ system_id: 'SIMSMSC' }));
    });
  }
  session.on('enquire_link', pdu => session.send(pdu.response()));
  session.on('unbind', pdu => {
    out({ event: 'unbind', session: sid });
    session.send(pdu.response());
    session.close();
  });
  session.on('unknown', pdu => session.send(pdu.response()));
  session.on('submit_sm', pdu => {
    if (!bound) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    let fields;
    try {
      fields = parseSubmit(pdu.raw);
    } catch (e) {
      out({ event: 'submit_sm_unparsable', session: sid, error: String(e.message) });
      session.send(pdu.response({ command_status: smpp.ESME_RSYSERR }));
      return;
    }
    if (SUBMIT_STATUS) {
      out(Object.assign({ event: 'submit_sm', session: sid, status: SUBMIT_STATUS }, fields));
      session.send(pdu.response({ command_status: SUBMIT_STATUS }));
      return;
    }
    const id = String(nextId++);
    out(Object.assign({ event: 'submit_sm', session: sid, status: 0, message_id: id }, fields));
    session.send(pdu.response({ message_id: id }));
    if (fields.registered_delivery & 0x03) {
      const sub = new Date();
      setTimeout(() => {
        queue.push({
          id,
          attempt: 1,
          pdu: {
            source_addr_ton: fields.dest_addr_ton, source_addr_npi: fields.dest_addr_npi,
            source_addr: fields.destination_addr,
            dest_addr_ton: fields.source_addr_ton, dest_addr_npi: fields.source_addr_npi,
            destination_addr: fields.source_addr,
            esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
            data_coding: 0x01,
            short_message: `id:${id} sub:001 dlvrd:001 submit date:${ts(sub)} done date:${ts(new Date())} ` +
              `stat:${RECEIPT_STAT} err:000 text:`,
            receipted_message_id: id,
            message_state: RECEIPT_STAT === 'DELIVRD' ? smpp.MESSAGE_STATE.DELIVERED : smpp.MESSAGE_STATE.UNDELIVERABLE,
          },
        });
        pump();
      }, DLR_DELAY_MS);
    }
  });
});

server.on('error', e => {
  out({ event: 'server_error', error: String(e && e.message) });
  process.exit(2);
});

server.on('tlsClientError', e => out({ event: 'tls_error', error: String(e && e.message) }));
server.listen(PORT, '127.0.0.1', () => out({ event: 'listening', port: server.address().port, tls: !!serverOptions.cert }));

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  out({ event: 'exit', signal });
  server.close();
  for (const s of server.sessions.slice()) s.destroy();
  // Flush stdout before leaving.
  process.stdout.write('', () => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
