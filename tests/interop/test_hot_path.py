"""The hot path's cost against the harness's own: a guard against gross regressions.

One closed-loop SMPP load (4 binds x window 64, 160-character GSM 7-bit texts) runs twice in
this test, one run right after the other on the same machine:

- `tern-bench raw`: the load generator straight to its simulated SMSC, in one process: the
  harness's own ceiling;
- `tern-bench load` against a `tern node` (embedded store, fsync on, one account, one
  upstream bind) in front of `tern-bench smsc`.

The node's throughput and CPU per message are divided by the harness's, and both ratios are
compared with those recorded for the binaries' build profile (debug or release) in
bench/smoke-baseline.json. The test fails only when a ratio is three times worse than
recorded: a gross regression of the hot path, not the day-to-day spread of these machines
(both runs share it, and a ratio cancels most of it). The figures are printed either way.

`BENCH_SMOKE_RECORD=1` writes the measured ratios into the baseline file instead, for the
profile of the binaries under test.
"""

import json
import os
import subprocess
from pathlib import Path

from conftest import Proc, free_port, port_open, wait_until

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "bench" / "smoke-baseline.json"
# How much worse than recorded a ratio may be before the test fails.
MARGIN = 3.0
BINDS, WINDOW = 4, 64


def profile_of(binary):
    """The cargo profile a binary was built with, from its target directory."""
    return "release" if Path(binary).parent.name == "release" else "debug"


def run_load(command, out, timeout):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, "%s failed (%d):\n%s\n%s" % (command[:2], done.returncode,
                                                             done.stdout, done.stderr)
    result = json.loads(Path(out).read_text())["result"]
    assert result["accepted"] == result["messages"], result
    return result


def cpu_per_message(result):
    process = result.get("process")
    assert process, "no CPU figures in %s" % result
    return process["cpu_micros_per_message"]


def node_config(smpp_port, metrics_port, sim_port, store):
    return "\n".join([
        "[log]", 'level = "warn"', "",
        "[smpp]", 'listen = "127.0.0.1:%d"' % smpp_port, "window = %d" % WINDOW, "",
        "[metrics]", 'listen = "127.0.0.1:%d"' % metrics_port, "",
        "[cluster]", 'listen = "127.0.0.1:0"', "",
        "[store]", 'dir = "%s"' % store, "fsync = true", "",
        "[[account]]", 'system_id = "bench"', 'password = "bench"', "max_binds = %d" % (BINDS + 4), "",
        "[[upstream]]", 'name = "sim"', 'url = "smpp://tern:tern@127.0.0.1:%d"' % sim_port,
        "window = 256", "",
    ])


def test_the_node_keeps_its_cost_against_the_harness(tern_bin, bench_bin, tmp_path):
    profile = profile_of(tern_bin)
    count = 100000 if profile == "release" else 20000
    load = ["--binds", str(BINDS), "--window", str(WINDOW), "--count", str(count), "--quiet"]

    raw = run_load([bench_bin, "raw", *load, "--json", tmp_path / "raw.json"], tmp_path / "raw.json", 300)

    sim_port, smpp_port, metrics_port = free_port(), free_port(), free_port()
    sim = Proc("smsc", [bench_bin, "smsc", "--listen", "127.0.0.1:%d" % sim_port, "--account", "tern:tern",
                        "--quiet"], tmp_path)
    config = tmp_path / "tern.toml"
    config.write_text(node_config(smpp_port, metrics_port, sim_port, tmp_path / "store"))
    node = Proc("tern", [tern_bin, "node", "--config", config], tmp_path)
    try:
        wait_until(lambda: port_open(sim_port), 15, what="tern-bench smsc to listen")
        wait_until(lambda: port_open(smpp_port), 30, what="tern to listen")
        tern = run_load([bench_bin, "load", "--target", "127.0.0.1:%d" % smpp_port, "--system-id", "bench",
                         "--password", "bench", *load, "--pid", str(node.popen.pid),
                         "--json", tmp_path / "tern.json"], tmp_path / "tern.json", 600)
    finally:
        node.stop()
        sim.stop()

    measured = {
        "rate_ratio": tern["msg_per_sec"] / raw["msg_per_sec"],
        "cpu_ratio": cpu_per_message(tern) / cpu_per_message(raw),
    }
    print("%s build, %d messages: raw %.0f msg/s %.1f us/msg; tern %.0f msg/s %.1f us/msg; "
          "tern/raw msg/s %.3f, CPU/msg %.2f" % (
              profile, count, raw["msg_per_sec"], cpu_per_message(raw), tern["msg_per_sec"],
              cpu_per_message(tern), measured["rate_ratio"], measured["cpu_ratio"]))

    baselines = json.loads(BASELINE.read_text())
    if os.environ.get("BENCH_SMOKE_RECORD"):
        baselines[profile] = {k: round(v, 4) for k, v in measured.items()}
        BASELINE.write_text(json.dumps(baselines, indent=2, sort_keys=True) + "\n")
        return
    recorded = baselines[profile]
    assert measured["rate_ratio"] >= recorded["rate_ratio"] / MARGIN, (
        "tern/raw msg/s fell to %.3f, recorded %.3f: more than %gx slower"
        % (measured["rate_ratio"], recorded["rate_ratio"], MARGIN))
    assert measured["cpu_ratio"] <= recorded["cpu_ratio"] * MARGIN, (
        "tern/raw CPU per message rose to %.2f, recorded %.2f: more than %gx dearer"
        % (measured["cpu_ratio"], recorded["cpu_ratio"], MARGIN))
