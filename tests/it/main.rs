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

#[cfg(unix)]
mod support;

#[cfg(unix)]
mod anon;
#[cfg(unix)]
mod beyond;
#[cfg(unix)]
mod fds;
#[cfg(unix)]
mod ffi;
#[cfg(unix)]
mod file;
#[cfg(unix)]
mod guard;
#[cfg(unix)]
mod guard_model;
mod header;
#[cfg(unix)]
mod limits;
#[cfg(unix)]
mod process;
#[cfg(unix)]
mod proptest_abi;
#[cfg(unix)]
mod pseudo_fs;
#[cfg(unix)]
mod reliability;
#[cfg(unix)]
mod shared_dir;
#[cfg(windows)]
mod windows;
