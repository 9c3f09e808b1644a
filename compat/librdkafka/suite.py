"""The test list of librdkafka's test-runner and the check of a run's outcomes against allow.txt and deny.txt.

usage: suite.py list TEST_C
       suite.py check [--partial] TEST_C RESULTS_DIR ALLOW DENY

list: one line per test that talks to a broker, "<number> <name> <scenario>", read from the tests[] table of
tests/test.c. Left out: TEST_F_LOCAL tests (no broker: unit tests, mock clusters, client-side only; run with
`test-runner -l`) and TEST_F_MANUAL tests (8000_idle, run by hand only).

check: RESULTS_DIR holds one test-runner report (TEST_REPORT=<number>-<scenario>.json) per process, plus a
<number>-<scenario>.rc file with the process's exit status (124/137: killed by the wall limit). A test's outcome is
its state in its number's report: PASSED -> passed, SKIPPED -> skipped (the runner's own skip: known issue, broker
version), anything else or no report -> failed. Exit status 1 when an allow-listed test did not pass, a test is on
neither list or on both, or a listed test no longer exists. A deny-listed test that passes is reported (move it to
allow.txt) but does not fail the run. Last line: "librdkafka: N passed, N failed, N skipped".
"""

import json
import os
import re
import sys


def parse_tests(test_c):
    src = open(test_c, encoding="utf-8").read()
    table = src[src.index("struct test tests[] = {"):]
    table = table[:table.index("{NULL}")]
    table = re.sub(r"/\*.*?\*/", "", table, flags=re.S)
    tests = []
    for m in re.finditer(r"_TEST\(\s*(\w+)\s*,\s*([^,)]*)(.*?)\)\s*,\s*(?=_TEST\(|#|$)", table, flags=re.S):
        name, flags, rest = m.group(1), m.group(2), m.group(3)
        scen = re.search(r'\.scenario\s*=\s*"([^"]*)"', rest)
        tests.append((name, flags, scen.group(1) if scen else "default"))
    return tests


def broker_tests(test_c):
    out = []
    for name, flags, scenario in parse_tests(test_c):
        if "TEST_F_LOCAL" in flags or "TEST_F_MANUAL" in flags:
            continue
        # A test listed for several scenarios ("default,ak23") runs in the first one this script provides.
        scen = "default" if "default" in scenario.split(",") else scenario.split(",")[0]
        out.append((name.split("_")[0], name, scen))
    return out


def read_list(path, with_reason):
    entries = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(" ")
            reason = reason.strip()
            if with_reason and not reason:
                sys.exit("%s:%d: deny-list entry without a reason: %s" % (path, n, test_id))
            if test_id in entries:
                sys.exit("%s:%d: duplicate entry %s" % (path, n, test_id))
            entries[test_id] = reason
    return entries


def outcomes(test_c, results):
    got = {}
    for num, name, scen in broker_tests(test_c):
        base = os.path.join(results, "%s-%s" % (num, scen))
        if not os.path.exists(base + ".rc"):
            continue  # not selected in this run
        rc = open(base + ".rc").read().strip()
        state = None
        try:
            with open(base + ".json", encoding="utf-8", errors="replace") as f:
                state = json.load(f)["tests"].get(name, {}).get("state")
        except (OSError, ValueError):
            pass
        if state == "PASSED":
            got[name] = ("passed", "")
        elif state == "SKIPPED":
            got[name] = ("skipped", "")
        elif rc == "124":
            got[name] = ("failed", "wall limit")
        else:
            got[name] = ("failed", "state %s, exit %s" % (state or "no report", rc))
    return got


def check(test_c, results, allow_path, deny_path, partial):
    allow = read_list(allow_path, with_reason=False)
    deny = read_list(deny_path, with_reason=True)
    known = [name for _, name, _ in broker_tests(test_c)]
    got = outcomes(test_c, results)
    problems = []
    for t in sorted(set(allow) & set(deny)):
        problems.append("on both lists: %s" % t)
    for t in known:
        if t not in allow and t not in deny and (t in got or not partial):
            problems.append("on neither list (%s): %s" % (got.get(t, ("not run",))[0], t))
    for t in list(allow) + list(deny):
        if t not in known:
            problems.append("listed but not in test.c (renamed or removed?): %s" % t)
    for t in allow:
        if t in got and got[t][0] != "passed":
            problems.append("allow-listed test %s (%s): %s" % (got[t][0], got[t][1] or "see its log", t))
        elif t not in got and not partial:
            problems.append("allow-listed test did not run: %s" % t)
    for t, reason in deny.items():
        if got.get(t, ("",))[0] == "passed":
            print("note: deny-listed test now passes (move it to allow.txt): %s  [%s]" % (t, reason))
    for p in problems:
        print("librdkafka compat: " + p)
    counts = {k: sum(1 for o, _ in got.values() if o == k) for k in ("passed", "failed", "skipped")}
    print("librdkafka compat: allow list %d, deny list %d, broker tests %d, run %d -> %s"
          % (len(allow), len(deny), len(known), len(got), "FAIL" if problems else "OK"))
    print("librdkafka: %d passed, %d failed, %d skipped" % (counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if problems else 0


def main(argv):
    if argv[:1] == ["list"] and len(argv) == 2:
        for num, name, scen in broker_tests(argv[1]):
            print(num, name, scen)
        return 0
    if argv[:1] == ["failed"] and len(argv) == 4:
        # Allow-listed tests that did not pass, as "<number> <scenario>" (for the retry).
        allow = read_list(argv[3], with_reason=False)
        got = outcomes(argv[1], argv[2])
        seen = set()
        for num, name, scen in broker_tests(argv[1]):
            if name in allow and name in got and got[name][0] != "passed" and (num, scen) not in seen:
                seen.add((num, scen))
                print(num, scen)
        return 0
    if argv[:1] == ["check"]:
        args = argv[1:]
        partial = args[:1] == ["--partial"]
        if partial:
            args = args[1:]
        if len(args) == 4:
            return check(*args, partial=partial)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
