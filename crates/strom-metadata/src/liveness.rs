//! Broker liveness at the active controller: heartbeats, fencing, and the periodic controller duties (being written).
