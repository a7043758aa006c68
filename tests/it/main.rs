//! The integration tests, one test binary (`cargo test --test it`): each
//! module is what used to be a test binary of its own, and `support` the
//! helpers they share. `cargo test --test it MODULE::` runs one of them.
//!
//! The modules' tests share this process: a test that counts its descriptors
//! or changes what its threads share runs alone in a process of its own
//! (`support::alone!`); a test that looks in /dev/shm, which every process
//! sees, holds `support::listing_dev_shm()`, and one that puts names there
//! `support::naming_in_dev_shm()`. Tests that re-execute this binary as a
//! helper process name the helper with `support::test_name!`.

mod support;

mod anon;
mod beyond;
mod fds;
mod ffi;
mod file;
mod guard;
mod guard_model;
mod header;
mod limits;
mod process;
mod proptest_abi;
mod pseudo_fs;
mod reliability;
mod shared_dir;
