//! strom-storage
