//! The supervised actor tree of a Tern node: customer sessions, carrier links, quota
//! counters, the router, the receipt correlator, the MO dispatcher and the dispatcher.
//! It speaks to the wire only through the connectors and to disk only through storage.
