//! The number of a company's users, remembered with the version of the
//! database it was counted at. A page of the unfiltered list is read with
//! the version it was remembered at: where the database is still at that
//! version, the page's statement skips its count (the count is a subquery
//! the statement evaluates only when the versions differ) and the total is
//! taken from here. At a million users that count is most of a page's time,
//! and a client importing by paging asks for it on every page.
//!
//! The version is the backend's: SQLite's data version, which changes with
//! any commit by another connection or process and means something only on
//! the connection that read it (so each reader connection keeps its own
//! totals), and PostgreSQL's snapshot (`pg_current_snapshot()`), which is
//! the same for two statements only if no transaction committed between
//! them, on any connection or instance (so a store keeps one set). Filtered
//! lists always count. SQLite's connections keep the sort keys of pages they
//! read beside their totals (`anchors`).

use std::collections::HashMap;

use super::anchors::Anchors;

/// Companies remembered per connection or store; a full map starts over.
const CAPACITY: usize = 64;

#[derive(Default)]
pub(super) struct Totals {
    counted: HashMap<i64, Counted>,
    pub anchors: Anchors,
}

#[derive(Clone)]
pub(super) struct Counted {
    pub data_version: String,
    pub users: u64,
}

impl Totals {
    pub(super) fn get(&self, company_id: i64) -> Option<Counted> {
        self.counted.get(&company_id).cloned()
    }

    pub(super) fn remember(&mut self, company_id: i64, counted: Counted) {
        if self.counted.len() >= CAPACITY && !self.counted.contains_key(&company_id) {
            self.counted.clear();
        }
        self.counted.insert(company_id, counted);
    }

    pub(super) fn clear(&mut self) {
        self.counted.clear();
        self.anchors.clear();
    }
}

/// Where a store keeps the totals counted through one of its reader
/// connections.
pub(super) trait RememberedTotals<Reader> {
    fn remembered_totals<T>(&self, reader: &mut Reader, f: impl FnOnce(&mut Totals) -> T) -> T;
}
