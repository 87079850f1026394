use crate::Sqlite;
use rusqlite::params;
use tollgate_app::ports::tallies::{Tallies, TalliesError, Tally};

fn failed(error: crate::DbError) -> TalliesError {
    TalliesError(error.into())
}

impl Tallies for Sqlite {
    async fn tally(&self, tally: Tally, day: &str, member: &str) -> Result<(), TalliesError> {
        let (day, member) = (day.to_owned(), member.to_owned());
        self.call(move |db| {
            db.execute(
                "INSERT INTO tallies (name, day, member) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![tally.as_str(), day, member],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn tally_counts(&self, tally: Tally, days: &[String]) -> Result<Vec<u64>, TalliesError> {
        let days = days.to_vec();
        self.call(move |db| {
            let mut statement = db.prepare_cached("SELECT count(*) FROM tallies WHERE name = ?1 AND day = ?2")?;
            days.iter().map(|day| statement.query_row(params![tally.as_str(), day], |row| row.get(0))).collect()
        })
        .await
        .map_err(failed)
    }

    async fn tally_distinct(&self, tally: Tally, days: &[String]) -> Result<u64, TalliesError> {
        let days = serde_json::to_string(days).expect("days always serialise");
        self.call(move |db| {
            db.query_row(
                "SELECT count(DISTINCT member) FROM tallies
                 WHERE name = ?1 AND day IN (SELECT value FROM json_each(?2))",
                params![tally.as_str(), days],
                |row| row.get(0),
            )
        })
        .await
        .map_err(failed)
    }
}
