"""Compare a client suite's per-test outcomes with the allow and deny lists (kafka-python's, and other pytest suites
that reuse it, such as compat/confluent-kafka-python).

usage: check.py [--name NAME] [--partial] COLLECTED OUTCOMES ALLOW DENY

--name: the suite's name in the messages and the last line (default kafka-python).
--partial: a selection of the suite ran (run.sh given pytest arguments): listed tests that were not collected are
not an error.

ALLOW: one test id per line (must pass). DENY: "<test id> <reason>" per line; a deny-list id ending in '*' covers every
test whose id starts with the rest (a whole directory of tests that need something the broker is not, such as a
Schema Registry server). '#' starts a comment line.
Exit status 1 when an allow-listed test did not pass (failed, skipped or never finished), when a collected test is on
neither list or on both, or when a listed test no longer exists. A deny-listed test that passes is reported (move it
to the allow list) but does not fail the run. The last line printed is "NAME: N passed, N failed, N skipped".
"""

import sys


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


def denied(test_id, deny):
    """The deny-list entry covering test_id (exact, or a 'prefix*' pattern), or None."""
    if test_id in deny:
        return test_id
    for entry in deny:
        if entry.endswith("*") and test_id.startswith(entry[:-1]):
            return entry
    return None


def main(collected_path, outcomes_path, allow_path, deny_path, partial=False, name="kafka-python"):
    allow = read_list(allow_path, with_reason=False)
    deny = read_list(deny_path, with_reason=True)
    with open(collected_path, encoding="utf-8") as f:
        collected = [line.strip() for line in f if line.strip()]
    outcomes = {}
    try:
        with open(outcomes_path, encoding="utf-8") as f:
            for line in f:
                outcome, _, test_id = line.strip().partition(" ")
                outcomes[test_id] = outcome
    except FileNotFoundError:
        pass

    problems = []
    for test_id in sorted(t for t in allow if denied(t, deny)):
        problems.append("on both lists: %s" % test_id)
    for test_id in collected:
        if test_id not in allow and not denied(test_id, deny):
            problems.append("on neither list (%s): %s" % (outcomes.get(test_id, "not run"), test_id))
    for test_id in allow:
        if test_id not in collected and not partial:
            problems.append("listed but not collected (renamed or removed?): %s" % test_id)
    for entry in deny:
        if not partial and not any(denied(t, {entry: None}) for t in collected):
            problems.append("listed but not collected (renamed or removed?): %s" % entry)
    for test_id in allow:
        if test_id in collected and outcomes.get(test_id) != "passed":
            problems.append("allow-listed test %s: %s" % (outcomes.get(test_id, "did not finish"), test_id))
    for test_id in collected:
        entry = denied(test_id, deny)
        if entry and outcomes.get(test_id) == "passed":
            print("note: deny-listed test now passes (move it to allow.txt): %s  [%s]" % (test_id, deny[entry]))

    for p in problems:
        print("%s compat: %s" % (name, p))
    counts = {k: sum(1 for t in collected if outcomes.get(t) == k) for k in ("passed", "failed", "skipped")}
    not_run = sum(1 for t in collected if t not in outcomes)
    if not_run:
        print("%s compat: %d collected tests did not finish (overall timeout?)" % (name, not_run))
    print("%s compat: allow list %d, deny list %d, collected %d -> %s"
          % (name, len(allow), len(deny), len(collected), "FAIL" if problems or not_run else "OK"))
    print("%s: %d passed, %d failed, %d skipped" % (name, counts["passed"], counts["failed"], counts["skipped"]))
    return 1 if problems or not_run else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    name = "kafka-python"
    partial = False
    while args and args[0].startswith("--"):
        if args[0] == "--partial":
            partial = True
            args = args[1:]
        elif args[0] == "--name" and len(args) > 1:
            name = args[1]
            args = args[2:]
        else:
            sys.exit(__doc__)
    if len(args) != 4:
        sys.exit(__doc__)
    sys.exit(main(*args, partial=partial, name=name))
