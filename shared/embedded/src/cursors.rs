use crate::Sqlite;
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::cursors::{Cursors, CursorsError};
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> CursorsError {
    CursorsError(error.into())
}

impl Cursors for Sqlite {
    async fn cursor(&self, name: &str) -> Result<Option<Timestamp>, CursorsError> {
        let name = name.to_owned();
        self.call(move |db| {
            db.query_row("SELECT at FROM cursors WHERE name = ?1", [name], |row| row.get(0).map(Timestamp)).optional()
        })
        .await
        .map_err(failed)
    }

    async fn advance_cursor(&self, name: &str, to: Timestamp) -> Result<(), CursorsError> {
        let name = name.to_owned();
        self.call(move |db| {
            db.execute(
                "INSERT INTO cursors (name, at) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET at = max(at, excluded.at)",
                params![name, to.0],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }
}
