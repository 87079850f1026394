use crate::Sqlite;
use rusqlite::{OptionalExtension, params};
use tollgate_app::ports::probes::{Probes, ProbesError};
use tollgate_core::health::ProbeRecord;
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> ProbesError {
    ProbesError(error.into())
}

impl Probes for Sqlite {
    async fn probe_record(&self, url: &str) -> Result<Option<ProbeRecord>, ProbesError> {
        let url = url.to_owned();
        self.call(move |db| {
            db.query_row(
                "SELECT failures, failing_since, down, probed_at FROM health_probes WHERE url = ?1",
                [url],
                |row| {
                    Ok(ProbeRecord {
                        failures: row.get(0)?,
                        failing_since: row.get::<_, Option<i64>>(1)?.map(Timestamp),
                        down: row.get(2)?,
                        probed_at: Timestamp(row.get(3)?),
                    })
                },
            )
            .optional()
        })
        .await
        .map_err(failed)
    }

    async fn swap_probe_record(
        &self,
        url: &str,
        before: Option<&ProbeRecord>,
        after: &ProbeRecord,
    ) -> Result<bool, ProbesError> {
        let (url, before, after) = (url.to_owned(), before.map(|record| record.probed_at.0), after.clone());
        self.call(move |db| {
            let since = after.failing_since.map(|at| at.0);
            // Each write moves `probed_at`: a record still at `before`'s is the one read.
            let changed = match before {
                None => db.execute(
                    "INSERT INTO health_probes (url, failures, failing_since, down, probed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (url) DO NOTHING",
                    params![url, after.failures, since, after.down, after.probed_at.0],
                )?,
                Some(probed_at) => db.execute(
                    "UPDATE health_probes SET failures = ?2, failing_since = ?3, down = ?4, probed_at = ?5
                     WHERE url = ?1 AND probed_at = ?6",
                    params![url, after.failures, since, after.down, after.probed_at.0, probed_at],
                )?,
            };
            Ok(changed == 1)
        })
        .await
        .map_err(failed)
    }
}
