//! The typed errors of the `try_` and `_timeout` operation families.

use std::fmt;

/// A `try_` operation found the primitive unavailable.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation would block")
    }
}

impl std::error::Error for WouldBlock {}

/// A `_timeout` or `_deadline` operation gave up.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TimedOut;

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation timed out")
    }
}

impl std::error::Error for TimedOut {}
