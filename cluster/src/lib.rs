//! The replicated state of a Tern cluster: the openraft type configuration, the state
//! machine holding accounts, ledgers, routes and membership, its log store and the raft
//! network over tonic. It knows nothing about actors or wire protocols.
