"""python-smpplib driven from one thread with bounded reads (shared by the smpplib tests)."""

import re
import socket
import time

import smpplib.client
import smpplib.consts
import smpplib.exceptions


def as_text(value):
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class Esme:
    """smpplib client driven from one thread with bounded reads."""

    def __init__(self, port, system_id="smpplib", password="secret", ssl_context=None):
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=1, ssl_context=ssl_context,
                                            allow_unknown_opt_params=True)
        self.system_id = system_id
        self.password = password
        self.resps = {}     # sequence -> (status, message_id)
        self.receipts = []  # deliver_sm PDUs with esm_class & 0x04
        self.others = []
        self.client.set_message_sent_handler(self._sent)
        self.client.set_message_received_handler(self._received)
        self.client.set_error_pdu_handler(self._error)

    def _sent(self, pdu, **kw):
        self.resps[pdu.sequence] = (pdu.status, as_text(pdu.message_id))

    def _error(self, pdu):
        self.resps[pdu.sequence] = (pdu.status, as_text(getattr(pdu, "message_id", None)))

    def _received(self, pdu, **kw):
        if pdu.esm_class & 0x04:
            self.receipts.append(pdu)
        else:
            self.others.append(pdu)
        return None  # -> deliver_sm_resp ESME_ROK

    def connect_bind(self, kind="transceiver"):
        self.client.connect()
        getattr(self.client, "bind_" + kind)(system_id=self.system_id, password=self.password)

    def submit(self, short_message, data_coding=0, esm_class=0, registered_delivery=True):
        pdu = self.client.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_INTL, source_addr_npi=1, source_addr="4930123456",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=1, destination_addr="4915112345678",
            short_message=short_message, data_coding=data_coding, esm_class=esm_class,
            registered_delivery=registered_delivery)
        return pdu.sequence

    def pump_until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
            self.client.read_once()  # 1 s socket timeout -> sends enquire_link and returns

    def close(self):
        try:
            if self.client.state in (smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
                                     smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX):
                self.client.unbind()
        except (smpplib.exceptions.PDUError, smpplib.exceptions.ConnectionError, socket.error):
            pass
        finally:
            self.client.disconnect()


def receipt_id(pdu):
    rid = as_text(getattr(pdu, "receipted_message_id", None))
    if rid:
        return rid
    m = re.search(r"id:(\S+)", as_text(pdu.short_message))
    return m.group(1) if m else None
