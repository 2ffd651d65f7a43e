"""docs/metrics.md against the Rust sources: one reference for every metric a node emits.

The sources are read, not run: every `counter!`, `gauge!` and `histogram!` (with or without
the `metrics::` path) in the crates' `src/` trees outside `#[cfg(test)]` modules gives a
metric name and its type. The name is the macro's first argument: a string literal, a
`const` of type `&str` (`telemetry::PROPOSALS_TOTAL`), or a local variable, whose names are
then the `"tern_..."` literals of the enclosing function (`connectors/cmpp/src/net/stats.rs`
loops over such a list).
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CRATES = ["actors", "node", "cluster", "connectors", "storage", "bench", "chaos"]
REFERENCE = REPO / "docs" / "metrics.md"

NAMES_CALL = re.compile(r'metric_names!\(\s*"([a-z0-9]+)"\s*\)')
MACRO = re.compile(r"(?<![A-Za-z0-9_])(?:metrics::)?(counter|gauge|histogram)!\s*\(\s*([^,)]+)")
CONST = re.compile(r'\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"')
TERN_LITERAL = re.compile(r'"(tern_[a-z0-9_]+)"')
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([a-z]+)\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|\s*([^|]+?)\s*\|\s*$")

# What a gauge or a histogram of a count may count; the unit column then names it.
COUNTED = {"messages", "sessions", "parts", "leases", "submits", "deliveries", "writes", "ops",
           "entries", "appends", "batches", "binds", "shards", "nodes"}
MEASURED = {"seconds", "bytes", "ratio"}


def naming_problem(name, kind):
    """None when `name` follows the rules of docs/metrics.md for a metric of type `kind`."""
    if not re.fullmatch(r"tern_[a-z][a-z0-9]*(_[a-z0-9]+)+", name):
        return "not tern_<area>_<what>_<unit> in lower snake case"
    last = name.rsplit("_", 1)[1]
    if kind == "counter":
        return None if last == "total" else "a counter ends in _total"
    if last == "total":
        return "only counters end in _total"
    if last in MEASURED or last in COUNTED:
        return None
    if kind == "gauge" and (last in ("up", "index", "term") or re.search(r"_is_[a-z]+$", name)):
        return None
    return ("a %s ends in a unit (%s) or in what it counts (%s)"
            % (kind, ", ".join(sorted(MEASURED)), ", ".join(sorted(COUNTED))))


def unit_of(name, kind):
    """The unit column docs/metrics.md must show for a gauge or histogram."""
    last = name.rsplit("_", 1)[1]
    if last == "up" or re.search(r"_is_[a-z]+$", name):
        return "boolean"
    return last


def block_end(text, open_brace):
    """The index after the brace closing the one at open_brace; strings and chars skipped."""
    depth, i = 0, open_brace
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            i = text.index("'", i + 2)
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def strip_test_modules(text):
    """The text without its `#[cfg(test)] mod x { ... }` blocks, line numbers kept."""
    while True:
        m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod\s+\w+\s*\{", text, re.M)
        if not m:
            return text
        end = block_end(text, m.end() - 1)
        text = text[:m.start()] + re.sub(r"[^\n]", " ", text[m.start():end]) + text[end:]


def rust_sources():
    for crate in CRATES:
        root = REPO / crate
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.rs")):
            parts = path.relative_to(root).parts
            if "src" not in parts or "target" in parts or "fuzz" in parts:
                continue
            yield path, strip_test_modules(path.read_text(errors="replace"))


def source_metrics():
    """{name: (type, "file:line")} for every metric the sources emit."""
    sources = list(rust_sources())
    consts = {}
    for _, text in sources:
        for m in CONST.finditer(text):
            consts[m.group(1)] = m.group(2)
    found = {}
    problems = []
    # A protocol's table of names (tern_smgp::metric_names!("smgp")): a field `x` of it
    # names tern_<p>_x for every prefix p the macro is given.
    prefixes = [p for _, text in sources for p in NAMES_CALL.findall(text)]
    for path, text in sources:
        for m in MACRO.finditer(text):
            kind, arg = m.group(1), m.group(2).strip()
            where = "%s:%d" % (path.relative_to(REPO), text.count("\n", 0, m.start()) + 1)
            if arg.startswith('"'):
                names = [arg.strip('"')]
            elif re.fullmatch(r"(\w+::)*[A-Z][A-Z0-9_]*", arg):
                const = arg.rsplit("::", 1)[-1]
                if const not in consts:
                    problems.append("%s: %s!(%s): no const %s found" % (where, kind, arg, const))
                    continue
                names = [consts[const]]
            elif re.fullmatch(r"(self\.|\w+::)?(names|NAMES)\.[a-z_][a-z0-9_]*", arg) and prefixes:
                names = ["tern_%s_%s" % (p, arg.rsplit(".", 1)[-1]) for p in prefixes]
            elif re.fullmatch(r"[a-z_][a-z0-9_]*", arg):
                start = text.rfind("fn ", 0, m.start())
                names = TERN_LITERAL.findall(text[max(start, 0):m.start()])
                if not names and "names." in text[max(start, 0):m.start()] and prefixes:
                    fields = re.findall(r"names\.([a-z_][a-z0-9_]*)", text[max(start, 0):m.start()])
                    names = ["tern_%s_%s" % (p, f) for p in prefixes for f in fields]
                if not names:
                    problems.append("%s: %s!(%s): no tern_ names in the function" % (where, kind, arg))
                    continue
            else:
                problems.append("%s: %s!(%s): cannot tell the metric name" % (where, kind, arg))
                continue
            for name in names:
                if name in found and found[name][0] != kind:
                    problems.append("%s: %s is a %s here and a %s at %s"
                                    % (where, name, kind, found[name][0], found[name][1]))
                found.setdefault(name, (kind, where))
    return found, problems


def reference_rows():
    """{name: (type, unit, labels, meaning)} from the tables of docs/metrics.md."""
    rows = {}
    duplicates = []
    for line in REFERENCE.read_text().splitlines():
        m = ROW.match(line)
        if not m:
            continue
        name, kind, unit, labels, meaning = m.groups()
        if name in rows:
            duplicates.append(name)
        rows[name] = (kind, unit, labels, meaning)
    return rows, duplicates


def test_sources_are_read():
    found, problems = source_metrics()
    assert not problems, "\n".join(problems)
    # a scanner that finds nothing would pass everything below
    assert len(found) > 50, sorted(found)
    for known in ("tern_link_submits_total", "tern_raft_proposals_total", "tern_cmpp_late_responses_total"):
        assert known in found, known


def test_every_emitted_metric_is_in_the_reference():
    found, _ = source_metrics()
    rows, _ = reference_rows()
    missing = ["%s (%s, %s)" % (n, k, w) for n, (k, w) in sorted(found.items()) if n not in rows]
    assert not missing, "emitted but not in docs/metrics.md:\n" + "\n".join(missing)


def test_the_reference_lists_only_emitted_metrics():
    found, _ = source_metrics()
    rows, duplicates = reference_rows()
    assert not duplicates, "listed twice in docs/metrics.md: %s" % duplicates
    stale = sorted(n for n in rows if n not in found)
    assert not stale, "in docs/metrics.md but emitted nowhere in the sources: %s" % stale


def test_reference_types_match_the_sources():
    found, _ = source_metrics()
    rows, _ = reference_rows()
    wrong = ["%s: docs say %s, %s emits a %s" % (n, rows[n][0], w, k)
             for n, (k, w) in sorted(found.items()) if n in rows and rows[n][0] != k]
    assert not wrong, "\n".join(wrong)


def test_names_follow_the_rules():
    rows, _ = reference_rows()
    found, _ = source_metrics()
    every = {n: v[0] for n, v in rows.items()}
    every.update({n: v[0] for n, v in found.items()})
    bad = ["%s (%s): %s" % (n, k, naming_problem(n, k)) for n, k in sorted(every.items())
           if naming_problem(n, k)]
    assert not bad, "\n".join(bad)


def test_units_in_the_reference_match_the_names():
    rows, _ = reference_rows()
    bad = []
    for name, (kind, unit, labels, meaning) in sorted(rows.items()):
        if kind not in ("counter", "gauge", "histogram"):
            bad.append("%s: type %r" % (name, kind))
        elif kind != "counter" and unit != unit_of(name, kind):
            bad.append("%s: unit column %r, the name says %r" % (name, unit, unit_of(name, kind)))
        if not meaning.strip():
            bad.append("%s: no meaning" % name)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name,kind", [
    ("tern_link_submits", "counter"),
    ("tern_dispatch_queue_depth", "gauge"),
    ("tern_link_window_in_use", "gauge"),
    ("tern_store_commit_latency_ms", "histogram"),
    ("tern_accept_seconds_total", "histogram"),
    ("Tern_link_up", "gauge"),
    ("tern_raft_appends_per_sync", "histogram"),
])
def test_the_rules_refuse_bad_names(name, kind):
    assert naming_problem(name, kind)


@pytest.mark.parametrize("name,kind", [
    ("tern_link_submits_total", "counter"),
    ("tern_dispatch_queued_messages", "gauge"),
    ("tern_smpp_link_up", "gauge"),
    ("tern_raft_is_leader", "gauge"),
    ("tern_store_commit_latency_seconds", "histogram"),
    ("tern_raft_snapshot_bytes", "gauge"),
])
def test_the_rules_accept_good_names(name, kind):
    assert naming_problem(name, kind) is None
