"""pytest plugin (loaded with `-p outcomes_plugin`): appends one line per finished test to the file named by
STROM_COMPAT_OUTCOMES, "<outcome> <test id>", outcome passed/failed/skipped. Written as each test ends, so a run
cut short by the overall timeout still leaves the outcomes of every test that finished. A failure in setup or
teardown (pytest's "error") counts as failed. Test ids are relative to test/integration/."""

import os

_PREFIX = "test/integration/"
_state = {}  # nodeid -> outcome so far


def _short(nodeid):
    return nodeid[len(_PREFIX):] if nodeid.startswith(_PREFIX) else nodeid


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
