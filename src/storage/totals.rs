//! The number of a company's users, remembered by each SQLite reader
//! connection with the database's data version it was counted at. A page of
//! the unfiltered list read at the same version (any commit since, from any
//! connection or process, changes it) takes its `totalResults` from here
//! instead of counting every user again: at a million users that count is
//! most of a page's time, and a client importing by paging asks for it on
//! every page. Data versions mean something only on the connection that
//! read them, so each connection keeps its own, and a connection opened
//! again starts empty. Filtered lists still count: the page alone, without
//! its count, may be planned differently, and not always better.

use std::collections::HashMap;

/// Companies remembered per connection; a full map starts over.
const CAPACITY: usize = 64;

#[derive(Default)]
pub(super) struct Totals {
    counted: HashMap<i64, Counted>,
}

#[derive(Clone, Copy)]
pub(super) struct Counted {
    pub data_version: i64,
    pub users: u64,
}

impl Totals {
    pub(super) fn get(&self, company_id: i64) -> Option<Counted> {
        self.counted.get(&company_id).copied()
    }

    pub(super) fn remember(&mut self, company_id: i64, counted: Counted) {
        if self.counted.len() >= CAPACITY && !self.counted.contains_key(&company_id) {
            self.counted.clear();
        }
        self.counted.insert(company_id, counted);
    }

    pub(super) fn clear(&mut self) {
        self.counted.clear();
    }
}

/// A reader connection's remembered totals, where its backend keeps them
/// (SQLite: `connections::Connection`).
pub(super) trait RememberedTotals {
    fn totals(&mut self) -> Option<&mut Totals>;
}

/// PostgreSQL has no cheap version of the whole database to check against.
impl RememberedTotals for sqlx::pool::PoolConnection<sqlx::Postgres> {
    fn totals(&mut self) -> Option<&mut Totals> {
        None
    }
}
