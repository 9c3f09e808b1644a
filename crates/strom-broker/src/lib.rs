//! strom-broker
