//! Sort keys of a company's list remembered at positions within it, so that
//! a deep page starts just after the nearest key before it instead of
//! skipping every user before it. SQLite's OFFSET walks the order's index
//! entry by entry (~45 ns each): a third of a page of 100 at the middle of
//! 10k users, 20 ms at the middle of a million, and an import by paging
//! walks the whole list again for every page.
//!
//! Each page read remembers the key of its last user. A key holds at the
//! data version it was read at (see `totals`), so the keys are kept per
//! connection with its totals and forgotten when the version moves.

use std::collections::{BTreeMap, HashMap};

use super::sql_filter::Bind;

/// Lists (company and statement) remembered per connection; a full map
/// starts over.
const LISTS: usize = 8;

/// Keys remembered per list; a full list keeps every other one.
const KEYS: usize = 1024;

#[derive(Default)]
pub(super) struct Anchors {
    lists: HashMap<(i64, u64), Keys>,
}

/// The keys of one list at one data version, by position.
struct Keys {
    data_version: String,
    at: BTreeMap<i64, Vec<Bind>>,
}

impl Anchors {
    /// The nearest key before `position` in a list at `data_version`, and
    /// its position.
    pub(super) fn before(
        &self,
        list: (i64, u64),
        data_version: &str,
        position: i64,
    ) -> Option<(i64, &[Bind])> {
        let keys = self.lists.get(&list)?;
        if keys.data_version != data_version {
            return None;
        }
        let (at, key) = keys.at.range(..position).next_back()?;
        Some((*at, key))
    }

    /// Remembers the key of the user at `position`, read at `data_version`.
    pub(super) fn remember(
        &mut self,
        list: (i64, u64),
        data_version: &str,
        position: i64,
        key: Vec<Bind>,
    ) {
        if self.lists.len() >= LISTS && !self.lists.contains_key(&list) {
            self.lists.clear();
        }
        let keys = self.lists.entry(list).or_insert_with(|| Keys {
            data_version: data_version.to_owned(),
            at: BTreeMap::new(),
        });
        if keys.data_version != data_version {
            keys.data_version = data_version.to_owned();
            keys.at.clear();
        }
        if keys.at.len() >= KEYS && !keys.at.contains_key(&position) {
            let mut every_other = false;
            keys.at.retain(|_, _| {
                every_other = !every_other;
                every_other
            });
        }
        keys.at.insert(position, key);
    }

    pub(super) fn clear(&mut self) {
        self.lists.clear();
    }
}

/// Deep pages of lists an index can seek in, by whether they started after
/// a remembered key (`start="key"`) or skipped from the list's start.
pub(super) fn count_deep_page(from_key: bool) {
    let start = if from_key { "key" } else { "offset" };
    metrics::counter!("sqlite_deep_pages_total", "start" => start).increment(1);
}
