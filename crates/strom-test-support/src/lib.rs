//! strom-test-support
