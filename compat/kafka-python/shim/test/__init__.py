# Strom compat shim: kafka-python 3.0.12's sdist ships test/integration/ and test/testutil.py but not the
# package file of `test/` itself (without it Python imports the standard library's `test` package instead).
# Mirrors the upstream test package's one setting that affects outcomes: callback exceptions fail the test.
import logging

logging.basicConfig(level=logging.INFO)

from kafka.future import Future  # noqa: E402

Future.error_on_callbacks = True
