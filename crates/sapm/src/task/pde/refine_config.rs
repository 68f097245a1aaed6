//! `pde.refine`: the settings of residual-based adaptive refinement and
//! their range checks (what the problem must allow is checked with the rest
//! of `[pde]`).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// `pde.refine = { rounds = R, add = n, candidates = m }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefineConfig {
    /// Refinement rounds (stages after the first), each with the `[train]` budget.
    pub rounds: usize,
    /// Interior points added per round.
    pub add: usize,
    /// Fresh candidate points per round, the `add` of largest residual kept.
    pub candidates: usize,
}

/// Most rounds and candidates.
const MAX_ROUNDS: usize = 100;
const MAX_CANDIDATES: usize = 1 << 20;

impl RefineConfig {
    /// Check the counts.
    pub(crate) fn check_counts(&self) -> Result<()> {
        let key = |leaf: &str| format!("pde.refine.{leaf}");
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return Err(Error::config(
                key("rounds"),
                format!("must be in 1..={MAX_ROUNDS}, got {}", self.rounds),
            ));
        }
        if self.add == 0 {
            return Err(Error::config(key("add"), "must be >= 1, got 0"));
        }
        if !(self.add..=MAX_CANDIDATES).contains(&self.candidates) {
            return Err(Error::config(
                key("candidates"),
                format!(
                    "must be in add..={MAX_CANDIDATES} ({}..), got {}",
                    self.add, self.candidates
                ),
            ));
        }
        Ok(())
    }
}
