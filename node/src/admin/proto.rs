//! The code generated from `proto/tern/admin/v1/admin.proto` by `build.rs`: messages,
//! the `Admin` server trait and its client. Not edited by hand, so not linted.
#![allow(clippy::all, clippy::pedantic, dead_code, missing_docs)]

tonic::include_proto!("tern.admin.v1");

/// The encoded descriptors of the admin API, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("tern_admin_v1_descriptor");
