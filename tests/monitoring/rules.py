"""The PrometheusRule's `spec` as a plain rules file, and mutants of it that the unit tests must
reject (a test that cannot fail proves nothing).

Usage: rules.py extract PROMETHEUSRULE_YAML OUT_YML
       rules.py mutants PROMETHEUSRULE_YAML OUT_DIR   (writes OUT_DIR/NAME/h2gate.rules.yml)
"""
import os
import sys

import yaml

# Each: a name, the text in prometheusrule.yaml, what it becomes. A mistake someone could make;
# rules_test.yaml must catch each one. Every occurrence is replaced; the text must be there, so
# this list follows the rules.
MUTANTS = [
    ("sunset-in-the-future-counts", ") < time()", ") < time() + 2 * 86400"),
    ("sunset-without-calls-counts", "[15m])\n            ) > 0", "[15m])\n            ) >= 0"),
    ("near-sunset-past-sunset-counts", "- time() < 7 * 86400\n            ) > 0",
     "- time() < 7 * 86400\n            ) > -1e12"),
    ("tls-without-tls-counts", "h2gate_tls_certificate_expiry_timestamp_seconds > 0",
     "h2gate_tls_certificate_expiry_timestamp_seconds >= 0"),
    ("handoff-no-floor", ") > 0.01", ") > 0"),
    ("limits-idle-counts", '{limit!="idle_timeout"}', ""),
    ("limits-no-ratio", "> 5 * sum by (namespace, job, limit)",
     "> 0 * sum by (namespace, job, limit)"),
    ("sniff-no-ratio", "> 5 * sum by (namespace, job, reason)",
     "> 0 * sum by (namespace, job, reason)"),
    ("floors-lowered", ") > 0.5", ") > 0.1"),  # limits and sniff failures
    ("not-ready-no-for", "h2gate_ready == 0\n          for: 5m", "h2gate_ready == 0\n"),
    ("down-any-job", 'up{job="h2gate"} == 0', "up == 0"),
]


def extract(text, out):
    with open(out, "w") as f:
        yaml.safe_dump(yaml.safe_load(text)["spec"], f, sort_keys=False)


def main():
    command, source, out = sys.argv[1:4]
    text = open(source).read()
    if command == "extract":
        extract(text, out)
        return 0
    for name, old, new in MUTANTS:
        if old not in text:
            print(f"FAIL: mutant {name}: {old!r} is not in {source}")
            return 1
        os.makedirs(f"{out}/{name}")
        extract(text.replace(old, new), f"{out}/{name}/h2gate.rules.yml")
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
