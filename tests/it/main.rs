//! The integration tests, one test binary (`cargo test --test it`): each
//! module is what used to be a test binary of its own, and `support` the
//! helpers they share. `cargo test --test it MODULE::` runs one of them.
//!
//! Tests that re-execute this binary as a helper process name the helper
//! with `support::test_name!`.

mod support;

mod anon;
mod beyond;
mod fds;
mod ffi;
mod file;
mod header;
mod limits;
mod process;
mod proptest_abi;
mod pseudo_fs;
mod reliability;
mod shared_dir;
