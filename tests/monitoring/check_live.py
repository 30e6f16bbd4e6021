"""Checks the monitoring kit against a live Prometheus that scrapes a real h2gate.

Usage: check_live.py DASHBOARD_JSON RULES_YML PROMETHEUS_URL ACTIVE_ALERTS
  ACTIVE_ALERTS: comma-separated alert names that the traffic must have made pending or firing;
  every other alert must be inactive.

Dashboard: its shape (the ${datasource} variable on every panel, the namespace and job filters
in every selector), then every variable's label_values() and every panel query, the variables
and Grafana's interval macros replaced by concrete values, run through /api/v1/query. Each query
must succeed and return series, and return none once $namespace or $job matches nothing; each
panel must show at least one value that is not zero: the traffic reached it. Rules: every rule
of the file loaded and evaluated with health "ok", and the alert states above. Exits 1 with every
problem listed.
"""
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

# What Grafana would put in for a 1 s scrape interval and a short time range. The window only
# has to cover the test's few seconds of samples.
MACROS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
problems = []


def get(base, path, params):
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # a bad query: 400 with the error in a JSON body
        return json.load(e)


def panels_of(dashboard):
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # a collapsed row holds its panels


def check_shape(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no ${datasource} variable of type datasource, query prometheus")
    for name in ("namespace", "job"):
        if variables.get(name, {}).get("type") != "query":
            problems.append(f"no ${name} query variable")
    ids = [p["id"] for p in panels_of(dashboard)]
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids repeat: {ids}")
    for p in panels_of(dashboard):
        if p["type"] in ("row", "text"):
            continue
        where = f'panel "{p["title"]}"'
        if p.get("datasource", {}).get("uid") != "${datasource}" or not p.get("targets"):
            problems.append(f"{where}: datasource is not ${{datasource}}, or no targets")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problems.append(f"{where} {t['refId']}: target datasource is not ${{datasource}}")
            for selector in re.findall(r"\{[^{}]*\}", t["expr"]):
                if 'namespace=~"$namespace"' not in selector or 'job=~"$job"' not in selector:
                    problems.append(f"{where} {t['refId']}: selector {selector} lacks the filters")


def resolve_variables(dashboard, base):
    values = {}
    for v in dashboard["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
        if not m:
            problems.append(f"${v['name']}: not label_values(SERIES, LABEL): {q}")
            continue
        series = substitute(m.group(1), values)
        found = get(base, f"/api/v1/label/{m.group(2)}/values", {"match[]": series})["data"]
        if not found:
            problems.append(f"${v['name']}: {q} found no values")
        # As Grafana sends a multi-value selection: an alternation of regex-escaped values, the
        # backslash doubled inside a PromQL string.
        escaped = [re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", x) for x in found]
        values[v["name"]] = "|".join(escaped) or "NONE"
        print(f"${v['name']} = {values[v['name']]}")
    return values


def substitute(expr, values):
    for k, v in MACROS.items():
        expr = expr.replace(k, v)
    for k, v in values.items():
        expr = expr.replace("${" + k + "}", v).replace("$" + k, v)
    return expr


def check_queries(dashboard, base, values):
    for p in panels_of(dashboard):
        if p["type"] in ("row", "text"):
            continue
        nonzero = False
        for t in p["targets"]:
            expr = substitute(t["expr"], values)
            if "$" in expr:
                problems.append(f'panel "{p["title"]}" {t["refId"]}: unreplaced variable in {expr}')
                continue
            r = get(base, "/api/v1/query", {"query": expr})
            result = r.get("data", {}).get("result", [])
            shown = [float(s["value"][1]) for s in result]
            print(f'{p["title"]} {t["refId"]}: {len(result)} series {shown[:6]}')
            if r.get("status") != "success" or not result:
                problems.append(f'panel "{p["title"]}" {t["refId"]}: no data for {expr}: {r}')
            nonzero |= any(x != 0 and not math.isnan(x) for x in shown)
            # The filters filter: with either variable matching nothing, no data. A selector
            # without them (a bare `sum(up)`) would still find the series.
            for name in ("namespace", "job"):
                other = substitute(t["expr"], {**values, name: "no-such-" + name})
                r = get(base, "/api/v1/query", {"query": other})
                if r.get("data", {}).get("result"):
                    problems.append(f'panel "{p["title"]}" {t["refId"]}: ${name} does not filter '
                                    f"{other}")
        if not nonzero:
            problems.append(f'panel "{p["title"]}": every value is zero or NaN')


def check_rules(rules_file, base, active):
    want = {r.get("alert") or r.get("record")
            for g in yaml.safe_load(open(rules_file))["groups"] for r in g["rules"]}
    deadline = time.monotonic() + 30
    while True:  # until every rule has been evaluated once, 30 s at most
        got = {r["name"]: r for g in get(base, "/api/v1/rules", {})["data"]["groups"]
               for r in g["rules"]}
        if set(got) >= want and all(r["health"] != "unknown" for r in got.values()):
            break
        if time.monotonic() > deadline:
            problems.append(f"rules not all loaded and evaluated in 30 s: {sorted(got)}")
            return
        time.sleep(0.5)
    for name in sorted(want):
        r = got[name]
        print(f"rule {name}: health {r['health']}, state {r.get('state')}, "
              f"alerts {[a['labels'] for a in r.get('alerts', [])]}")
        if r["health"] != "ok":
            problems.append(f"rule {name}: health {r['health']}: {r.get('lastError')}")
        state = r.get("state")
        if name in active and state not in ("pending", "firing"):
            problems.append(f"alert {name} is {state}; the traffic should have raised it")
        if name not in active and state != "inactive":
            problems.append(f"alert {name} is {state}, should be inactive: {r.get('alerts')}")
    for name in active - want:
        problems.append(f"no alert {name} in the rules")


def main():
    dashboard_file, rules_file, base, active = sys.argv[1:5]
    dashboard = json.load(open(dashboard_file))
    check_shape(dashboard)
    check_queries(dashboard, base, resolve_variables(dashboard, base))
    check_rules(rules_file, base, set(filter(None, active.split(","))))
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
