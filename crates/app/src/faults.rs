//! Failure injection for the money-path tests: a test arms a named point, the next pass
//! through it fails as if the server had crashed there (the use-case returns an error
//! after whatever it already committed). Inert in production: nothing arms a point.
//!
//! Points: `pay.before_channel` (plan committed, channel not called), `pay.after_channel`
//! (the channel has the payment, we have not recorded its answer), `pay.after_commit`
//! (everything committed, the response is lost), `settle.before_commit` (a payment
//! success being applied rolls back).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::AppResult;

#[derive(Debug, Default)]
pub struct Faults {
    armed: Mutex<HashSet<String>>,
}

impl Faults {
    /// The next pass through `point` fails (once).
    pub fn arm(&self, point: &str) {
        self.armed.lock().unwrap_or_else(|e| e.into_inner()).insert(point.to_owned());
    }

    pub(crate) fn hit(&self, point: &str) -> AppResult<()> {
        if self.armed.lock().unwrap_or_else(|e| e.into_inner()).remove(point) {
            return Err(crate::error::internal(format!("injected failure at {point}")));
        }
        Ok(())
    }
}
