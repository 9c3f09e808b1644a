"""pytest plugin (loaded with `-p outcomes_plugin`): appends one line per finished test to the file named by
STROM_COMPAT_OUTCOMES, "<outcome> <test id>", outcome passed/failed/skipped. Written as each test ends, so a run
cut short by the overall timeout still leaves the outcomes of every test that finished. A failure in setup or
teardown (pytest's "error") counts as failed. Test ids are relative to STROM_COMPAT_PREFIX (default
test/integration/, kafka-python's layout).

STROM_COMPAT_DENY (optional): the suite's deny list. An entry whose reason starts with "[not run]" is skipped with that
reason instead of run (a test that cannot run against one plain broker and would spend the time budget failing, or
would try to download something); an id ending in '*' covers every test id starting with the rest, as in check.py."""

import os

import pytest

_PREFIX = os.environ.get("STROM_COMPAT_PREFIX", "test/integration/")
_NOT_RUN = "[not run]"
_state = {}  # nodeid -> outcome so far


def _short(nodeid):
    return nodeid[len(_PREFIX):] if nodeid.startswith(_PREFIX) else nodeid


def _not_run_entries():
    path = os.environ.get("STROM_COMPAT_DENY")
    entries = {}
    if not path:
        return entries
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(" ")
            reason = reason.strip()
            if reason.startswith(_NOT_RUN):
                entries[test_id] = reason[len(_NOT_RUN):].strip()
    return entries


def pytest_collection_modifyitems(items):
    entries = _not_run_entries()
    if not entries:
        return
    for item in items:
        test_id = _short(item.nodeid)
        for entry, reason in entries.items():
            if test_id == entry or (entry.endswith("*") and test_id.startswith(entry[:-1])):
                item.add_marker(pytest.mark.skip(reason="not run (deny.txt): " + reason))
                break


def pytest_runtest_logreport(report):
    prev = _state.get(report.nodeid)
    if report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    # the worst phase wins: failed > skipped > passed
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    if prev is None or rank[outcome] > rank[prev]:
        _state[report.nodeid] = outcome
    if report.when == "teardown":
        path = os.environ.get("STROM_COMPAT_OUTCOMES")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write("%s %s\n" % (_state[report.nodeid], _short(report.nodeid)))


def pytest_collection_finish(session):
    path = os.environ.get("STROM_COMPAT_COLLECTED")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            for item in session.items:
                f.write(_short(item.nodeid) + "\n")
