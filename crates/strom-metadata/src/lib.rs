//! strom-metadata
