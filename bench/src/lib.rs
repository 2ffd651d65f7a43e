//! Tern's test bench: a simulated operator SMSC ([`smsc`]), an SMPP, CMPP, SGIP and HTTP load
//! generator ([`load`]), the comparison of gateways under the same load ([`compare`]) and the
//! raw rate of a CQL database ([`cql`]), as a
//! library that tests and `tern dev` use in-process, and the `tern-bench`
//! binary on top of them.
//!
//! Both drive a gateway only over the wire: they speak SMPP through the `tern-smpp`
//! connector and never link the node, the actors or the store, so what they measure is what
//! a customer and an operator would see. A load run straight against the simulator (`raw`)
//! is the ceiling of the harness itself, the denominator of every gateway ratio.

pub mod compare;
pub mod cql;
pub mod load;
pub mod parse;
pub mod process;
pub mod smsc;
pub mod status;
