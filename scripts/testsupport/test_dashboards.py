"""The shipped dashboards and alarms name only metrics the daemon really emits.

  etc/grafana/spotifyd-etl.json   Grafana dashboard on the Prometheus /metrics
  etc/cloudwatch/dashboard.json   CloudWatch dashboard body on the EMF metrics
  etc/cloudwatch/alarms.yaml      CloudFormation template: CloudWatch alarms on the EMF metrics

The truth is the REAL binary, not a hand list: the test builds `spotifyd-etl` (incremental
`swift build --product spotifyd-etl`; or takes $SPOTIFYD_ETL_BIN), runs it against the Spotify
emulator with `[metrics] interval = "1s"` and `listen` on a free loopback port, scrapes
/metrics (names and # TYPE) and reads the EMF documents from its stderr (namespace,
dimensions, metric names, with the namespace left at the daemon's default).

Then: every metric name in a PromQL expression of the Grafana dashboard (panels and template
variables) is one /metrics serves (besides Prometheus's own per-target `up`), counters only
inside rate()/irate()/increase() and gauges never; every daemon metric has a panel; every
CloudWatch widget and alarm uses the daemon's namespace, its exact dimension set and value, and
EMF metric names it emits, counters with Sum and gauges with Maximum/Average; the alarms exist
for OutboxOldestAgeSeconds, UploadFailures, ApiThrottled and PollLagSeconds and each states how
it treats missing data; the template passes cfn-lint (skipped only if cfn-lint is not installed).

  python3 -m unittest scripts/testsupport/test_dashboards.py

It skips (saying why) only when there is no binary to run: no $SPOTIFYD_ETL_BIN, no swift
toolchain to build one and no .build/debug/spotifyd-etl. A failed build is a failure.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import yaml  # PyYAML (a dependency of moto[server] in scripts/requirements-test.txt)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GRAFANA = os.path.join(ROOT, "etc", "grafana", "spotifyd-etl.json")
CW_DASHBOARD = os.path.join(ROOT, "etc", "cloudwatch", "dashboard.json")
CW_ALARMS = os.path.join(ROOT, "etc", "cloudwatch", "alarms.yaml")
EMULATOR = os.path.join(ROOT, "scripts", "emulator", "spotify_emulator.py")
MAKE_CONFIG = os.path.join(ROOT, "scripts", "make-config.py")
SAMPLE = os.path.join(ROOT, "etc", "spotifyd-etl.toml")

sys.path.insert(0, HERE)
from unit_env import unit_environment  # noqa: E402

# Series a dashboard may use that the daemon does not serve: Prometheus writes `up` itself for
# every scrape target (0 when the scrape fails), which is how a dead daemon shows.
PROMETHEUS_OWN = {"up"}
ALARMED = {"OutboxOldestAgeSeconds", "UploadFailures", "ApiThrottled", "PollLagSeconds"}

# PromQL functions and aggregations (plus Grafana's template-variable helpers); a name called
# that is not one of these is a typo, not a metric.
PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp",
    "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "day_of_month", "day_of_week",
    "delta", "deriv", "exp", "floor", "group", "histogram_quantile", "holt_winters", "hour", "idelta",
    "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log2", "log10", "max",
    "max_over_time", "min", "min_over_time", "minute", "month", "predict_linear", "present_over_time",
    "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc",
    "sqrt", "stddev", "stddev_over_time", "stdvar", "stdvar_over_time", "sum", "sum_over_time", "time",
    "timestamp", "topk", "vector", "year",
    "label_values", "label_names", "metrics", "query_result",  # Grafana variable queries
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "atan2"}
COUNTER_FUNCTIONS = {"rate", "irate", "increase"}


# ---------------------------------------------------------------- PromQL (just enough of it)

def _blank(text, pattern, flags=0):
    """Replaces every match with spaces of the same length (positions stay valid)."""
    return re.sub(pattern, lambda m: " " * len(m.group(0)), text, flags=flags)


def promql_references(expr):
    """[(metric name, innermost enclosing function or None)] of a PromQL expression; raises
    ValueError on an unknown function or a `__name__` matcher (a name the test cannot see)."""
    if "__name__" in expr:
        raise ValueError(f"__name__ matcher in {expr!r}: name the metric directly")
    e = re.sub(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]", lambda m: "1" + " " * (len(m.group(0)) - 1), expr)
    e = _blank(e, r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')      # strings
    e = _blank(e, r"\{[^}]*\}")                                          # label matchers
    e = _blank(e, r"\[[^\]]*\]")                                         # ranges, subqueries
    e = _blank(e, r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")  # label lists
    e = _blank(e, r"\boffset\s+-?[0-9A-Za-z_]+")
    if re.match(r"\s*label_values\s*\(", e):  # Grafana's label_values(metric, label): a label, not a metric
        e = _blank(e, r",\s*[A-Za-z_][A-Za-z0-9_]*\s*(?=\)\s*$)")
    refs = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        name = m.group(0)
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # a unit or exponent of a number: 5m, 1e3
        if re.match(r"\s*\(", e[m.end():]):
            if name not in PROMQL_FUNCTIONS:
                raise ValueError(f"unknown PromQL function {name!r} in {expr!r}")
            continue
        if name in PROMQL_KEYWORDS:
            continue
        depth, fn = 0, None
        for i in range(m.start() - 1, -1, -1):
            if e[i] == ")":
                depth += 1
            elif e[i] == "(":
                if depth == 0:
                    f = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", e[:i])
                    fn = f.group(1) if f else None
                    break
                depth -= 1
        refs.append((name, fn))
    return refs


def grafana_expressions(dash):
    """(where, PromQL) of every query in the dashboard: panel targets (rows' nested panels too)
    and query variables."""
    out = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            out.append((f"panel {p.get('title')!r} target {t.get('refId')}", t.get("expr", "")))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            out.append((f"variable {v.get('name')!r}", q.get("query", "") if isinstance(q, dict) else q or ""))
    return out


def all_panels(dash):
    def walk(ps):
        for p in ps:
            yield p
            yield from walk(p.get("panels", []))
    return list(walk(dash.get("panels", [])))


# ---------------------------------------------------------------- CloudWatch files

class CfnLoader(yaml.SafeLoader):
    """CloudFormation YAML: `!Ref X` → {"Ref": X}, `!GetAtt A.B` → {"Fn::GetAtt": ...}, `!Sub` …"""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_alarms():
    with open(CW_ALARMS, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def cloudwatch_widget_metrics(body):
    """(widget title, namespace, metric name, {dimension: value}, stat) for every metric row of
    every metric widget, the "." shorthand resolved; expression rows are returned as
    (title, None, None, None, expression)."""
    out = []
    for w in body["widgets"]:
        if w["type"] != "metric":
            continue
        props = w["properties"]
        prev = []
        for row in props["metrics"]:
            opts = row[-1] if row and isinstance(row[-1], dict) else {}
            fields = [f for f in row if not isinstance(f, dict)]
            if not fields:
                out.append((props["title"], None, None, None, opts.get("expression")))
                continue
            fields = [prev[i] if f == "." and i < len(prev) else f for i, f in enumerate(fields)]
            prev = fields
            ns, name, dims = fields[0], fields[1], fields[2:]
            out.append((props["title"], ns, name, dict(zip(dims[0::2], dims[1::2])),
                        opts.get("stat", props.get("stat", "Average"))))
    return out


def snake_case(s):
    """PrometheusNames.snakeCase for the names used here (CamelCase, acronyms, digits)."""
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", s)
    return re.sub(r"[^a-z0-9]+", "_", out.lower()).strip("_")


# ---------------------------------------------------------------- the daemon

def locate_binary():
    """(path, how) of a current spotifyd-etl; raises SkipTest only when none can be had."""
    env = os.environ.get("SPOTIFYD_ETL_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise AssertionError(f"SPOTIFYD_ETL_BIN={env} is not an executable file")
        return os.path.abspath(env), "$SPOTIFYD_ETL_BIN"
    if shutil.which("swift"):
        # Incremental: seconds when up to date, so the names checked are those of the current tree.
        r = subprocess.run(["swift", "build", "--product", "spotifyd-etl"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise AssertionError("swift build --product spotifyd-etl failed:\n" + r.stdout[-4000:])
        bindir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                                stdout=subprocess.PIPE, text=True).stdout.strip()
        return os.path.join(bindir, "spotifyd-etl"), "swift build"
    fallback = os.path.join(ROOT, ".build", "debug", "spotifyd-etl")
    if os.access(fallback, os.X_OK):
        return fallback, "existing .build/debug (no swift toolchain to rebuild it)"
    raise unittest.SkipTest("no spotifyd-etl binary: no $SPOTIFYD_ETL_BIN, no swift toolchain on PATH to build "
                            "one, no .build/debug/spotifyd-etl. Build it (swift build --product spotifyd-etl) "
                            "or set SPOTIFYD_ETL_BIN to check the dashboards against what the daemon emits.")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emitted:
    """What one run of the real daemon emitted."""
    prom_types = {}      # family name -> counter|gauge|histogram|...
    prom_samples = set()  # sample names (histograms: _bucket, _sum, _count)
    emf_docs = []         # parsed EMF documents (dicts)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def run_daemon(binary, tmp):
    port_file = os.path.join(tmp, "emulator.port")
    emu = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--port-file", port_file,
                            "--scenario", "small", "--exit-with-parent"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon = None
    try:
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and read(port_file).strip()):
            if emu.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Spotify emulator did not start within 30 s (exit {emu.poll()})")
            time.sleep(0.05)
        port = int(read(port_file))
        truth = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/truth", timeout=10))
        ids = ",".join(p["id"] for p in truth["playlists"])
        cfg = os.path.join(tmp, "spotifyd-etl.toml")
        subprocess.run([sys.executable, MAKE_CONFIG, "--sample", SAMPLE, "--out", cfg, "--var", tmp,
                        "--api-url", f"http://127.0.0.1:{port}/v1", "--accounts-url", f"http://127.0.0.1:{port}",
                        "--playlists", ids, "--interval", "10s"], check=True)
        env = dict(os.environ, **unit_environment(), SPOTIFY_CLIENT_ID="test-client", SPOTIFY_CLIENT_SECRET="test-secret")
        for k in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "SPOTIFYD_ETL_LOG_LEVEL"):
            env.pop(k, None)
        sample = read(cfg)
        for attempt in range(5):  # the free port can be taken between probe and bind
            mport = free_port()
            # The whole [metrics] table (to the next header) replaced; namespace left at the default.
            text, n = re.subn(r"^\[metrics\][ \t]*$.*?(?=^\[|\Z)",
                              lambda _: '[metrics]\ninterval = "1s"\nlisten = "127.0.0.1:%d"\n\n' % mport,
                              sample, count=1, flags=re.M | re.S)
            if n != 1:
                raise AssertionError("no [metrics] table in the config made from etc/spotifyd-etl.toml")
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(text)
            log_path = os.path.join(tmp, f"daemon-{attempt}.log")
            with open(log_path, "w") as err:
                daemon = subprocess.Popen([binary, "run", "--config", cfg], env=env, cwd=tmp,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            body, deadline = None, time.monotonic() + 30
            while time.monotonic() < deadline and daemon.poll() is None:
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
                    break
                except OSError:
                    time.sleep(0.1)
            if body is None:
                log = read(log_path)
                daemon.kill() if daemon.poll() is None else None
                daemon.wait(10)
                if "Address already in use" in log:
                    continue
                raise AssertionError(f"no /metrics from the daemon (exit {daemon.returncode}):\n{log[-3000:]}")
            # At least three EMF intervals (the first may come before anything happened).
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and read(log_path).count('"_aws"') < 3:
                time.sleep(0.2)
            body = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
            daemon.terminate()
            daemon.wait(60)
            return body, read(log_path)
        raise AssertionError("could not find a free port for [metrics] listen in 5 attempts")
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        emu.terminate()
        emu.wait(10)


def parse_metrics(body):
    types, samples = {}, set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return types, samples


def parse_emf(log):
    docs = []
    for line in log.splitlines():
        if '"_aws"' not in line:
            continue
        line = re.sub(r"^<\d>", "", line)
        docs.append(json.loads(line[line.index("{"):]))
    return docs


# ---------------------------------------------------------------- tests

class DashboardFilesShape(unittest.TestCase):
    """The files are what their tools import (no binary needed)."""

    def test_grafana_is_an_importable_dashboard(self):
        with open(GRAFANA, encoding="utf-8") as f:
            dash = json.load(f)
        self.assertGreaterEqual(dash["schemaVersion"], 36)
        self.assertIsNone(dash.get("id"), "an importable dashboard has id null")
        self.assertTrue(dash.get("uid") and dash.get("title"))
        self.assertIn({"name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"},
                      [{k: i.get(k) for k in ("name", "type", "pluginId")} for i in dash["__inputs"]])
        panel_ids = [p["id"] for p in all_panels(dash)]
        self.assertEqual(len(panel_ids), len(set(panel_ids)), "panel ids must be unique")
        for p in all_panels(dash):
            g = p["gridPos"]
            self.assertTrue(0 <= g["x"] and g["x"] + g["w"] <= 24, f"{p['title']}: gridPos {g}")
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"])
            self.assertTrue(p.get("targets"), f"{p['title']}: no queries")
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}", p["title"])
                self.assertTrue(t["expr"].strip(), f"{p['title']}: empty expr")
        for where, expr in grafana_expressions(dash):
            with self.subTest(where):
                self.assertTrue(promql_references(expr), f"{where}: no metric in {expr!r}")

    def test_cloudwatch_dashboard_body_shape(self):
        with open(CW_DASHBOARD, encoding="utf-8") as f:
            body = json.load(f)
        self.assertEqual(set(body), {"widgets"} | (set(body) & {"start", "end", "periodOverride"}))
        self.assertTrue(body["widgets"])
        for w in body["widgets"]:
            title = w.get("properties", {}).get("title", w["type"])
            self.assertIn(w["type"], {"metric", "text", "alarm", "log", "explorer"}, title)
            for k in ("x", "y", "width", "height"):
                self.assertIsInstance(w[k], int, f"{title}: {k}")
            self.assertTrue(0 <= w["x"] and w["x"] + w["width"] <= 24 and 1 <= w["height"] <= 1000, title)
            if w["type"] == "text":
                self.assertIsInstance(w["properties"]["markdown"], str)
            if w["type"] == "metric":
                p = w["properties"]
                self.assertRegex(p["region"], r"^[a-z]{2}(-[a-z]+)+-\d$", title)
                self.assertIn(p.get("view", "timeSeries"), {"timeSeries", "singleValue", "gauge", "bar", "pie", "table"})
                self.assertIsInstance(p["metrics"], list, title)
                self.assertGreater(p.get("period", 300), 0)
                for row in p["metrics"]:
                    self.assertIsInstance(row, list, title)
                    opts = row[-1] if isinstance(row[-1], dict) else {}
                    if "expression" in opts:
                        self.assertNotIn("SEARCH", opts["expression"], f"{title}: metrics must be explicit rows")
                    else:
                        fields = [f for f in row if not isinstance(f, dict)]
                        self.assertEqual(len(fields) % 2, 0, f"{title}: {row}: namespace, name, then name/value pairs")

    def test_alarms_template_passes_cfn_lint(self):
        exe = shutil.which("cfn-lint")
        if not exe:
            self.skipTest("cfn-lint is not installed (pip install cfn-lint); the template's names are still checked")
        r = subprocess.run([exe, CW_ALARMS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(r.returncode, 0, "cfn-lint etc/cloudwatch/alarms.yaml:\n" + r.stdout)

    def test_alarms_template_shape(self):
        t = load_alarms()
        params = t["Parameters"]
        self.assertIn("AlarmTopicArn", params)
        alarms = {k: r["Properties"] for k, r in t["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
        self.assertEqual({a["MetricName"] for a in alarms.values()} & ALARMED, ALARMED)
        for name, a in alarms.items():
            with self.subTest(name):
                self.assertIn(a["TreatMissingData"], {"breaching", "notBreaching", "ignore", "missing"})
                self.assertEqual(a["AlarmActions"], [{"Ref": "AlarmTopicArn"}])
                ref = a["Threshold"].get("Ref") if isinstance(a["Threshold"], dict) else None
                self.assertTrue(ref in params and params[ref]["Type"] == "Number",
                                f"{name}: threshold should be a Number parameter")
        outbox = [a for a in alarms.values() if a["MetricName"] == "OutboxOldestAgeSeconds"]
        self.assertEqual([a["TreatMissingData"] for a in outbox], ["breaching"],
                         "the outbox alarm is the heartbeat: missing data must breach")

    def test_promql_reference_parser(self):
        refs = promql_references('60 * sum by (instance) (rate(a_total{job=~"$job", x="rate(b)"}[5m])) '
                                 'or max(c offset 1h) / on(instance) group_left(version) d{} > bool 1e3')
        self.assertEqual(refs, [("a_total", "rate"), ("c", "max"), ("d", None)])
        self.assertEqual(promql_references('label_values(m{job=~"$job"}, instance)'), [("m", "label_values")])
        with self.assertRaises(ValueError):
            promql_references("rat(a_total[5m])")
        with self.assertRaises(ValueError):
            promql_references('{__name__="a_total"}')


class DashboardsMatchTheDaemon(unittest.TestCase):
    """Every name the dashboards and alarms use is one the real daemon emits."""

    @classmethod
    def setUpClass(cls):
        binary, how = locate_binary()
        print(f"\n[test_dashboards] running {binary} ({how})", file=sys.stderr)
        tmp = tempfile.mkdtemp(prefix="spotifyd-dash-")
        try:
            body, log = run_daemon(binary, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        cls.prom_types, cls.prom_samples = parse_metrics(body)
        cls.emf_docs = parse_emf(log)
        if not cls.prom_samples or not cls.emf_docs:
            raise AssertionError(f"the daemon emitted nothing to check against: {len(cls.prom_samples)} "
                                 f"Prometheus samples, {len(cls.emf_docs)} EMF documents\n{log[-3000:]}")
        with open(GRAFANA, encoding="utf-8") as f:
            cls.grafana = json.load(f)
        with open(CW_DASHBOARD, encoding="utf-8") as f:
            cls.cw_body = json.load(f)
        cls.alarms = load_alarms()
        # The service-level EMF shape: namespace, the one dimension set and its values, names.
        directives = [(d, doc) for doc in cls.emf_docs for d in doc["_aws"]["CloudWatchMetrics"]]
        cls.emf_namespaces = {d["Namespace"] for d, _ in directives}
        service = [(d, doc) for d, doc in directives if d["Dimensions"] == [["Service"]]]
        if not service:
            raise AssertionError(f"no EMF document with dimension set [[\"Service\"]]: {cls.emf_docs[:1]}")
        cls.emf_dimensions = {tuple((k, doc[k]) for k in d["Dimensions"][0]) for d, doc in service}
        cls.emf_names = {m["Name"] for d, _ in service for m in d["Metrics"]}
        # Counter or gauge, from the Prometheus twin's # TYPE (the same split PrometheusNames makes).
        cls.emf_kind = {}
        for n in cls.emf_names:
            base = "spotifyd_etl_" + snake_case(n)
            cls.emf_kind[n] = ("counter" if cls.prom_types.get(base + "_total") == "counter"
                               else cls.prom_types.get(base))

    def test_daemon_emitted_the_documented_shape(self):
        self.assertEqual(self.emf_namespaces, {"SpotifyETL"}, "the default [metrics] namespace")
        self.assertEqual(self.emf_dimensions, {(("Service", "spotifyd-etl"),)})
        self.assertTrue(ALARMED <= self.emf_names, f"EMF names: {sorted(self.emf_names)}")
        for n in self.emf_names:
            self.assertIn(self.emf_kind[n], {"counter", "gauge"}, f"{n}: no Prometheus twin in /metrics")

    def test_grafana_names_are_emitted(self):
        allowed = self.prom_samples | set(self.prom_types) | PROMETHEUS_OWN
        used = set()
        for where, expr in grafana_expressions(self.grafana):
            for name, fn in promql_references(expr):
                used.add(name)
                with self.subTest(where=where, metric=name):
                    self.assertIn(name, allowed, f"{where}: {name} is not served by /metrics: {expr}")
                    kind = self.prom_types.get(name)
                    if kind == "counter":
                        self.assertIn(fn, COUNTER_FUNCTIONS, f"{where}: counter {name} outside rate()/increase()")
                    elif kind == "gauge":
                        self.assertNotIn(fn, COUNTER_FUNCTIONS, f"{where}: rate() of gauge {name}")
        missing = {n for n in self.prom_samples if n.startswith("spotifyd_etl_")} - used
        self.assertFalse(missing, f"daemon metrics without a Grafana panel: {sorted(missing)}")

    def test_cloudwatch_dashboard_names_are_emitted(self):
        (dims,) = self.emf_dimensions
        (namespace,) = self.emf_namespaces
        rows = cloudwatch_widget_metrics(self.cw_body)
        used = set()
        for title, ns, name, dimensions, stat in rows:
            if ns is None:
                continue  # an expression over the rows' ids
            used.add(name)
            with self.subTest(widget=title, metric=name):
                self.assertEqual(ns, namespace)
                self.assertIn(name, self.emf_names)
                self.assertEqual(dimensions, dict(dims), "exactly the dimension set the daemon emits")
                if stat != "SampleCount":
                    self.assertIn(stat, {"Sum"} if self.emf_kind[name] == "counter" else {"Maximum", "Average", "Minimum"},
                                  f"{name} is a {self.emf_kind[name]}")
        self.assertFalse(self.emf_names - used, f"EMF metrics without a widget: {sorted(self.emf_names - used)}")

    def test_cloudwatch_alarms_names_are_emitted(self):
        (dims,) = self.emf_dimensions
        (namespace,) = self.emf_namespaces
        self.assertEqual(self.alarms["Parameters"]["Namespace"]["Default"], namespace)
        alarms = [(k, r["Properties"]) for k, r in self.alarms["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"]
        self.assertTrue(alarms)
        for key, a in alarms:
            with self.subTest(alarm=key):
                self.assertNotIn("Metrics", a, "metric-math alarms are not checked; use MetricName")
                self.assertEqual(a["Namespace"], {"Ref": "Namespace"})
                self.assertIn(a["MetricName"], self.emf_names)
                self.assertEqual([(d["Name"], d["Value"]) for d in a["Dimensions"]], list(dims))
                self.assertNotIn("Unit", a, "a Unit that differs from the EMF one matches no data")
                kind = self.emf_kind[a["MetricName"]]
                self.assertIn(a["Statistic"], {"Sum"} if kind == "counter" else {"Maximum", "Average"},
                              f"{a['MetricName']} is a {kind}")


if __name__ == "__main__":
    unittest.main()
