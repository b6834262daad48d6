//! The loom shim: every atomic the lock-free state machines use comes from here, so
//! the same code runs under the `loom` model checker (`RUSTFLAGS="--cfg loom"`).
#![allow(unused_imports)]

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;
