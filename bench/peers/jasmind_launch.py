"""Run one of Jasmin's daemons (jasmind.py, dlrlookupd.py, ...) with run-time changes.

Run with the Jasmin venv's python:  python jasmind_launch.py SCRIPT [ARGS...]

* TERN_JASMIN_LOCK_DIR: jasmind.py takes the lock file /tmp/jasmind (one Jasmin per host),
  dlrd.py /tmp/dlrd and so on; this moves them into the instance's own directory.
* A fix for a bug of 0.11.1 that loses every receipt meant for an SMPP customer (below).
* TERN_JASMIN_PREFETCH: the AMQP prefetch of the SMPP client connectors' submit.sm queues,
  hard-coded to 1 in jasmin/managers/clients.py (perspective_connector_add). A value above 1
  lets a connector have that many submit_sm in flight instead of one. Unset: unchanged.

Nothing in the installed package is modified.
"""

import inspect
import os
import runpy
import shutil
import sys

import lockfile

lock_dir = os.environ.get("TERN_JASMIN_LOCK_DIR")
if lock_dir:
    _FileLock = lockfile.FileLock

    def _own_lock(path, *args, **kwargs):
        return _FileLock(os.path.join(lock_dir, os.path.basename(path)), *args, **kwargs)

    lockfile.FileLock = _own_lock


def patch(module_name, replacements):
    """Recompile a module's source with exact text replacements (each must occur as counted)."""
    module = __import__(module_name, fromlist=["_"])
    source = inspect.getsource(module)
    for old, new, count in replacements:
        if source.count(old) != count:
            sys.exit("jasmind_launch: %r found %d times in %s, expected %d"
                     % (old, source.count(old), module.__file__, count))
        source = source.replace(old, new)
    exec(compile(source, module.__file__, "exec"), module.__dict__)


# Jasmin 0.11.1 bug (jookies/jasmin#1236): after a submit_sm_resp, SMPPClientSMListener
# builds the DLR for DLRLookup from `_pdu.response`, but `_pdu` is the SubmitSM request,
# which has no `response`; the AttributeError is logged and no receipt ever reaches an SMPP
# customer. The response is `r.response`.
patch("jasmin.managers.listeners", [
    ("dlr = DLR(pdu_type=_pdu.response.id, msgid=msgid, status=_pdu.response.status,\n"
     "                          smpp_msgid=_pdu.response.params['message_id'])",
     "dlr = DLR(pdu_type=r.response.id, msgid=msgid, status=r.response.status,\n"
     "                          smpp_msgid=r.response.params['message_id'])", 1),
    ("dlr = DLR(pdu_type=_pdu.response.id, msgid=msgid, status=_pdu.response.status)",
     "dlr = DLR(pdu_type=r.response.id, msgid=msgid, status=r.response.status)", 1),
])

prefetch = int(os.environ.get("TERN_JASMIN_PREFETCH") or 0)
if prefetch > 1:
    patch("jasmin.managers.clients", [
        ("basic_qos(prefetch_count=1)", "basic_qos(prefetch_count=%d)" % prefetch, 1),
    ])

script = sys.argv[1]
if os.sep not in script:
    script = shutil.which(script, path=os.path.dirname(sys.executable)) or script
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
