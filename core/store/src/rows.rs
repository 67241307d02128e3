//! Which rows of a list a read returns, so no list is read whole to cut one page out of it.

/// Which rows of a list to read, in its order: a day's entries by 受付番号, a job's items by
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    /// Only rows whose 受付番号 or index is above this.
    pub after: i64,
    /// Rows to pass over first (a page's offset).
    pub skip: usize,
    /// Rows at most.
    pub limit: usize,
}

impl Rows {
    /// Every row.
    pub const ALL: Self = Self {
        after: i64::MIN,
        skip: 0,
        limit: usize::MAX,
    };

    /// At most `limit` rows after the 受付番号 or index `after`.
    pub fn after(after: i64, limit: usize) -> Self {
        Self {
            after,
            skip: 0,
            limit,
        }
    }
}

/// SQLite's LIMIT and OFFSET are i64.
pub(crate) fn clamp(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
