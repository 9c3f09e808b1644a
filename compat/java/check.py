"""Compare one Java compat project's test outcomes (surefire XML reports) with its allow and deny lists.

usage: check.py [--partial] --name NAME REPORTS_DIR ALLOW DENY

Test ids are "SimpleClassName#method" (JUnit's method name without parameter types). ALLOW: one id per line (must
pass). DENY: "<id> <reason>" per line (may fail: a feature another issue delivers, or "STROM BUG: ..."). '#' starts a
comment line. Outcome of a test: passed, failed (a failure or an error, in the test or in its class's setup) or
skipped (disabled, or an assumption that did not hold).

Prints one line per test class ("passed, failed, expected-fail, skipped"), every problem, and a last line
"NAME: N passed, N failed, N skipped" (failed counts deny-listed failures too). Exit status 1 when an allow-listed
test did not pass, a test that ran is on neither list or on both, or (without --partial) a listed test did not run.
A deny-listed test that passes is reported (move it to allow.txt) but does not fail the run.
"""

import glob
import os
import re
import sys
import xml.etree.ElementTree as ET


def read_list(path, with_reason):
    entries = {}
    if not os.path.exists(path):
        return entries
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


def read_reports(reports_dir):
    """{test id: (outcome, message)} from TEST-*.xml; a class whose setup failed yields one entry per reported case."""
    outcomes = {}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    for path in sorted(glob.glob(os.path.join(reports_dir, "TEST-*.xml"))):
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            cls = case.get("classname", "").rsplit(".", 1)[-1]
            name = re.sub(r"\(.*$", "", case.get("name", ""))
            test_id = "%s#%s" % (cls, name) if name else cls
            outcome, message = "passed", ""
            for tag in ("failure", "error"):
                el = case.find(tag)
                if el is not None:
                    outcome = "failed"
                    message = (el.get("message") or el.get("type") or "").strip()
                    break
            else:
                el = case.find("skipped")
                if el is not None:
                    outcome, message = "skipped", (el.get("message") or "").strip()
            prev = outcomes.get(test_id)
            if prev is None or rank[outcome] > rank[prev[0]]:
                outcomes[test_id] = (outcome, message)
    return outcomes


def main(argv):
    partial = False
    if argv and argv[0] == "--partial":
        partial, argv = True, argv[1:]
    if len(argv) != 5 or argv[0] != "--name":
        sys.exit(__doc__)
    name, reports_dir, allow_path, deny_path = argv[1:]
    allow = read_list(allow_path, with_reason=False)
    deny = read_list(deny_path, with_reason=True)
    outcomes = read_reports(reports_dir) if os.path.isdir(reports_dir) else {}

    problems = []
    for test_id in sorted(set(allow) & set(deny)):
        problems.append("on both lists: %s" % test_id)
    for test_id, (outcome, message) in sorted(outcomes.items()):
        if test_id not in allow and test_id not in deny:
            problems.append("on neither list (%s): %s %s" % (outcome, test_id, message[:200]))
    for test_id in list(allow) + list(deny):
        if test_id not in outcomes and not partial:
            problems.append("listed but did not run (renamed, removed, or the run was cut short?): %s" % test_id)
    for test_id in allow:
        if test_id in outcomes and outcomes[test_id][0] != "passed":
            outcome, message = outcomes[test_id]
            problems.append("allow-listed test %s: %s: %s" % (outcome, test_id, message[:300]))
    for test_id, reason in deny.items():
        if test_id in outcomes and outcomes[test_id][0] == "passed":
            print("%s: note: deny-listed test now passes (move it to allow.txt): %s  [%s]" % (name, test_id, reason))

    per_class = {}
    for test_id, (outcome, _) in outcomes.items():
        c = per_class.setdefault(test_id.split("#")[0], {"passed": 0, "failed": 0, "expected-fail": 0, "skipped": 0})
        if outcome == "failed" and test_id in deny:
            c["expected-fail"] += 1
        else:
            c[outcome] += 1
    for cls in sorted(per_class):
        c = per_class[cls]
        print("%s: %-28s %3d passed, %d failed, %d expected-fail, %d skipped"
              % (name, cls, c["passed"], c["failed"], c["expected-fail"], c["skipped"]))
    for test_id, reason in sorted(deny.items()):
        if test_id in outcomes and outcomes[test_id][0] != "passed":
            short = reason if len(reason) <= 140 else reason[:139] + "..."
            print("%s:   expected %s: %s  [%s]" % (name, outcomes[test_id][0], test_id, short))

    for p in problems:
        print("%s compat: %s" % (name, p))
    counts = {k: sum(1 for o, _ in outcomes.values() if o == k) for k in ("passed", "failed", "skipped")}
    print("%s compat: allow list %d, deny list %d, ran %d -> %s"
          % (name, len(allow), len(deny), len(outcomes), "FAIL" if problems or not outcomes else "OK"))
    print("%s: %d passed, %d failed, %d skipped" % (name, counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if problems or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
