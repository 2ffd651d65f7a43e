"""deploy/prometheus and deploy/grafana against a real Prometheus scraping `tern dev`.

The live test starts `tern dev` (the binary of the `tern_bin` fixture; `tern-bench` is
taken from beside it, or from $TERN_BENCH_BIN), Prometheus from Debian (/usr/bin/prometheus,
or $PROMETHEUS_BIN) with a 1 s scrape and evaluation interval, the rules of
deploy/prometheus/alerts.yml loaded, and its own data directory and port; puts a bounded
load through the node (SMPP with receipts, CMPP, a refused bind and a refused submit);
then asks Prometheus's HTTP API:

- every PromQL target of every dashboard returns data, with the dashboard variables set
  to match everything (`$instance`, `$link`, `$account` -> `.*`, `$__rate_interval` -> 1m),
  and every variable's `label_values(...)` query finds values;
- every alert rule's underlying series exist: an alert that does not fire returns
  nothing, so each vector selector of each rule's expression (a metric name with its
  label matchers, e.g. `tern_accept_durable_seconds_bucket{le="0.25"}`) is queried on
  its own as `count(<selector>)` and must return a sample. Windows, offsets and final
  comparisons are left out on purpose: they need hours of history the test does not have;
  promtool's unit tests (alerts_test.yml) cover the arithmetic.
- Prometheus evaluated every rule without an error, and none is pending or firing.

Every process started here is stopped in the fixture's teardown (SIGTERM, then SIGKILL
after a bounded wait); the load generator runs under a timeout.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import Proc, free_port, port_open, wait_until
from smpp_raw import BIND_TRANSCEIVER, RawSmpp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"
METRICS_REFERENCE = REPO / "docs" / "metrics.md"

DASHBOARDS = ["overview", "links", "accounts", "cluster"]
VARIABLES = {"$__rate_interval": "1m", "$instance": ".*", "$link": ".*", "$account": ".*"}
LOAD_SECONDS = 15


def alert_rules():
    rules = []
    for group in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]:
        rules += [r for r in group["rules"] if "alert" in r]
    return rules


def dashboards():
    return {name: json.loads((GRAFANA_DIR / (name + ".json")).read_text()) for name in DASHBOARDS}


def dashboard_targets():
    """(dashboard, panel title, expr) for every PromQL target, panels in rows included."""
    out = []
    for name, d in dashboards().items():
        panels = list(d["panels"])
        while panels:
            p = panels.pop(0)
            panels += p.get("panels", [])
            for t in p.get("targets", []):
                out.append((name, p["title"], t["expr"]))
    return out


def substitute(expr):
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, "a dashboard variable the test does not know: %s" % expr
    return expr


SELECTOR = re.compile(r'(?<![\w"])((?:tern_[a-z0-9_]+|up)(?:\{[^}]*\})?|\{__name__=~"[^"]*"[^}]*\})')


def selectors(expr):
    """The vector selectors of a PromQL expression (metric names are tern_* or up)."""
    found = []
    for s in SELECTOR.findall(expr):
        if s not in found:
            found.append(s)
    return found


def metric_base(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)


def referenced_metrics(expr):
    names = set(re.findall(r"\btern_[a-z0-9_]+", expr))
    for pattern in re.findall(r'__name__=~"([^"]*)"', expr):
        for alternative in re.findall(r"\(([a-z|]+)\)", pattern):
            for a in alternative.split("|"):
                names.add(re.sub(r"\([a-z|]+\)", a, pattern, count=1))
    return {metric_base(n) for n in names}


def documented_metrics():
    return set(re.findall(r"^\|\s*`(tern_[a-z0-9_]+)`", METRICS_REFERENCE.read_text(), re.M))


# ---------------------------------------------------------------- without processes

def test_every_alert_rule_fires_in_a_promtool_unit_test():
    fired = set()
    for path in PROMETHEUS_DIR.glob("*test*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    names = [r["alert"] for r in alert_rules()]
    assert len(names) >= 8, names
    missing = [n for n in names if n not in fired]
    assert not missing, "alert rules no *test*.yml case fires: %s" % missing


def test_rules_and_dashboards_use_documented_metrics():
    known = documented_metrics()
    assert len(known) > 50
    exprs = [("alerts.yml " + r["alert"], r["expr"]) for r in alert_rules()]
    exprs += [("%s.json %s" % (d, title), e) for d, title, e in dashboard_targets()]
    unknown = ["%s: %s" % (where, sorted(referenced_metrics(e) - known)) for where, e in exprs
               if referenced_metrics(e) - known]
    assert not unknown, "metrics not in docs/metrics.md:\n" + "\n".join(unknown)


def test_dashboards_are_grafana_dashboards_on_a_prometheus_variable():
    for name, d in dashboards().items():
        assert d["uid"] == "tern-" + name and d["title"].startswith("Tern / "), name
        variables = {v["name"]: v for v in d["templating"]["list"]}
        ds = variables.get("datasource")
        assert ds and ds["type"] == "datasource" and ds["query"] == "prometheus", name
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), "%s: panel ids repeat" % name
        for p in d["panels"]:
            grid = p["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, (name, p["title"])
            if p["type"] == "row":
                continue
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, p["title"])
            assert p["targets"], (name, p["title"])
            for t in p["targets"]:
                assert t["expr"].strip() and t["refId"], (name, p["title"])


# ---------------------------------------------------------------- live

def prometheus_bin():
    path = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus") or "/usr/bin/prometheus"
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        pytest.fail("prometheus not found (%s): scripts/test installs the Debian package `prometheus`"
                    % path, pytrace=False)
    return path


class Prometheus:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def get(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read().decode())
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)["result"]

    def ready(self):
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False


@pytest.fixture
def observed_node(tern_bin, tmp_path):
    """`tern dev` and a Prometheus scraping it every second; both stopped at teardown."""
    ports = {k: free_port() for k in ("smpp", "metrics", "grpc", "cmpp", "prometheus")}
    procs = []
    try:
        tern = Proc("tern-dev", [Path(tern_bin).resolve(), "dev", "--data-dir", tmp_path / "tern-data",
                                 "--smpp-listen", "127.0.0.1:%d" % ports["smpp"],
                                 "--metrics-listen", "127.0.0.1:%d" % ports["metrics"],
                                 "--grpc-listen", "127.0.0.1:%d" % ports["grpc"],
                                 "--cmpp-listen", "127.0.0.1:%d" % ports["cmpp"],
                                 "--admin-token", "observability-test"],
                    tmp_path, env={"RUST_BACKTRACE": "1"}, cwd=tmp_path)
        procs.append(tern)

        def tern_up():
            if not tern.alive():
                raise AssertionError("tern dev exited with %s:\n%s" % (tern.popen.returncode, tern.tail()))
            return all(port_open(ports[k]) for k in ("smpp", "metrics", "cmpp"))

        wait_until(tern_up, 30, interval=0.1, what="tern dev to listen")

        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
            "scrape_configs": [{"job_name": "tern", "metrics_path": "/metrics",
                                "static_configs": [{"targets": ["127.0.0.1:%d" % ports["metrics"]]}]}],
        }
        config_path = tmp_path / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        prom = Proc("prometheus", [prometheus_bin(), "--config.file", config_path,
                                   "--storage.tsdb.path", tmp_path / "prometheus-data",
                                   "--web.listen-address", "127.0.0.1:%d" % ports["prometheus"],
                                   "--log.level", "warn"], tmp_path, cwd=tmp_path)
        procs.append(prom)
        api = Prometheus(ports["prometheus"])

        def prom_up():
            if not prom.alive():
                raise AssertionError("prometheus exited with %s:\n%s" % (prom.popen.returncode, prom.tail()))
            return api.ready()

        wait_until(prom_up, 30, interval=0.2, what="prometheus to be ready")
        yield {"ports": ports, "api": api, "tern": tern, "dir": tmp_path}
    finally:
        for p in reversed(procs):
            p.stop(signal.SIGTERM, 15)


def run_bounded(argv, timeout, log):
    try:
        out = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:  # subprocess.run has killed it
        raise AssertionError("%s ran over %ss" % (argv[:2], timeout)) from e
    log.write_text(out.stdout + out.stderr)
    return out


def put_load(node, bench):
    """Refusals and CMPP first, then the SMPP load: every series then has samples over the
    whole rate() window of the queries."""
    ports, d = node["ports"], node["dir"]
    with RawSmpp(ports["smpp"]) as s:
        resp = s.bind(BIND_TRANSCEIVER, "demo", "wrong")
        assert resp.status != 0, resp
    with RawSmpp(ports["smpp"]) as s:
        assert s.bind(BIND_TRANSCEIVER, "demo", "demo").status == 0
        resp = s.submit("no such number", dest="not-a-number")
        assert resp.status != 0, resp
    cmpp = run_bounded([bench, "load", "--protocol", "cmpp", "--target", "127.0.0.1:%d" % ports["cmpp"],
                        "--source-addr", "901234", "--secret", "demo", "--binds", "1", "--window", "8",
                        "--count", "200", "--quiet"], 60, d / "load-cmpp.log")
    assert cmpp.returncode == 0, cmpp.stdout + cmpp.stderr
    load = run_bounded([bench, "load", "--target", "127.0.0.1:%d" % ports["smpp"], "--system-id", "demo",
                        "--password", "demo", "--binds", "2", "--window", "16", "--rate", "200",
                        "--duration", "%ds" % LOAD_SECONDS, "--receipts", "--mix", "gsm7=80,long=10,ucs2=10",
                        "--quiet"], LOAD_SECONDS + 60, d / "load-smpp.log")
    assert load.returncode == 0, load.stdout + load.stderr


def test_dashboards_and_alert_rules_find_their_series_in_prometheus(observed_node, bench_bin):
    api = observed_node["api"]
    put_load(observed_node, bench_bin)

    # The last scrape must have seen the end of the load.
    done = time.time()
    wait_until(lambda: any(float(s["value"][1]) > done + 2 for s in api.query('timestamp(up{job="tern"} == 1)')),
               20, interval=0.5, what="a successful scrape after the load")
    assert observed_node["tern"].alive(), observed_node["tern"].tail()

    problems = []
    for dashboard, title, expr in dashboard_targets():
        if not api.query(substitute(expr)):
            problems.append("dashboard %s, panel %r: no data for %s" % (dashboard, title, substitute(expr)))
    for name, d in dashboards().items():
        for v in d["templating"]["list"]:
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", v.get("definition", ""))
            if v["type"] == "query":
                if not m:
                    problems.append("dashboard %s, variable %s: not label_values(...)" % (name, v["name"]))
                    continue
                values = api.get("/api/v1/label/%s/values" % m.group(2), **{"match[]": substitute(m.group(1))})
                if not values:
                    problems.append("dashboard %s, variable %s: no values" % (name, v["name"]))

    checked = 0
    for rule in alert_rules():
        sels = selectors(rule["expr"])
        if not sels:
            problems.append("alert %s: no selector found in %r" % (rule["alert"], rule["expr"]))
        for sel in sels:
            checked += 1
            if not api.query("count(%s)" % sel):
                problems.append("alert %s: no series for %s" % (rule["alert"], sel))
    assert checked >= 20, checked

    def evaluated():
        groups = api.get("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return len(rules) == len(alert_rules()) and all(r.get("lastEvaluation", "").startswith("20")
                                                        and r["health"] != "unknown" for r in rules) and rules

    for r in wait_until(evaluated, 20, interval=0.5, what="prometheus to evaluate every rule"):
        if r["health"] != "ok":
            problems.append("alert %s: prometheus says %s: %s" % (r["name"], r["health"], r.get("lastError")))

    # A healthy node under a modest load: no rule may be pending, let alone firing.
    for a in api.query('ALERTS{alertname=~"Tern.*"}'):
        problems.append("alert %s is %s on a healthy node: %s" % (a["metric"]["alertname"],
                                                                 a["metric"].get("alertstate"), a["metric"]))

    assert not problems, "\n".join(problems)


def test_the_selector_scan_reads_the_rules():
    # The live test is only as good as this scan: it must see every metric a rule uses.
    expr = ('sum by (instance) (rate(tern_a_total[5m])) > 0.1 and on (instance) '
            '(rate(tern_b_seconds_bucket{le="0.25"}[1h]) or min by (link) ({__name__=~"tern_(x|y)_up"}) '
            'or up{job="tern"} == 0)')
    assert selectors(expr) == ["tern_a_total", 'tern_b_seconds_bucket{le="0.25"}',
                               '{__name__=~"tern_(x|y)_up"}', 'up{job="tern"}']
    assert referenced_metrics(expr) == {"tern_a_total", "tern_b_seconds", "tern_x_up", "tern_y_up"}
