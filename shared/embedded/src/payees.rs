use crate::Sqlite;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tollgate_app::ports::accounts::Applied;
use tollgate_app::ports::payees::{FailedPayout, Payee, Payees, PayeesError};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> PayeesError {
    PayeesError(error.into())
}

const COLUMNS: &str = "account_id, connect_account, payouts_enabled, failed_period, failed_reason";

fn to_payee(row: &Row<'_>) -> rusqlite::Result<Payee> {
    let account: String = row.get(0)?;
    let account = AccountId::parse(&account)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into()))?;
    let (period, reason): (Option<String>, Option<String>) = (row.get(3)?, row.get(4)?);
    Ok(Payee {
        account,
        connect_account: row.get(1)?,
        payouts_enabled: row.get(2)?,
        failed_payout: period.zip(reason).map(|(period, reason)| FailedPayout { period, reason }),
    })
}

fn read(db: &Connection, account: &AccountId) -> rusqlite::Result<Option<Payee>> {
    db.query_row(&format!("SELECT {COLUMNS} FROM payees WHERE account_id = ?1"), [account.as_str()], to_payee)
        .optional()
}

impl Payees for Sqlite {
    async fn payee(&self, account: &AccountId) -> Result<Option<Payee>, PayeesError> {
        let account = account.clone();
        self.call(move |db| read(db, &account)).await.map_err(failed)
    }

    async fn link_payee(&self, account: &AccountId, connect_account: &str) -> Result<Payee, PayeesError> {
        let (account, connect_account) = (account.clone(), connect_account.to_owned());
        self.call(move |db| {
            db.execute(
                "INSERT INTO payees (account_id, connect_account) VALUES (?1, ?2) ON CONFLICT (account_id) DO NOTHING",
                params![account.as_str(), connect_account],
            )?;
            read(db, &account)?.ok_or(rusqlite::Error::QueryReturnedNoRows)
        })
        .await
        .map_err(failed)
    }

    async fn record_payouts_enabled(
        &self,
        account: &AccountId,
        connect_account: &str,
        payouts_enabled: bool,
        as_of: Timestamp,
    ) -> Result<Applied, PayeesError> {
        let (account, connect_account) = (account.clone(), connect_account.to_owned());
        self.call(move |db| {
            let changed = db.execute(
                "INSERT INTO payees (account_id, connect_account, payouts_enabled, as_of) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account_id) DO UPDATE SET payouts_enabled = excluded.payouts_enabled, as_of = excluded.as_of
                 WHERE payees.connect_account = excluded.connect_account AND payees.as_of < excluded.as_of",
                params![account.as_str(), connect_account, payouts_enabled, as_of.0],
            )?;
            Ok(if changed == 1 { Applied::Applied } else { Applied::Stale })
        })
        .await
        .map_err(failed)
    }

    async fn payees_enabled(&self) -> Result<Vec<Payee>, PayeesError> {
        self.call(|db| {
            let mut statement =
                db.prepare(&format!("SELECT {COLUMNS} FROM payees WHERE payouts_enabled = 1 ORDER BY account_id"))?;
            statement.query_map([], to_payee)?.collect()
        })
        .await
        .map_err(failed)
    }

    async fn record_failed_payout(
        &self,
        account: &AccountId,
        failed_payout: Option<&FailedPayout>,
    ) -> Result<(), PayeesError> {
        let account = account.clone();
        let (period, reason) = failed_payout.map(|f| (f.period.clone(), f.reason.clone())).unzip();
        self.call(move |db| {
            db.execute(
                "UPDATE payees SET failed_period = ?2, failed_reason = ?3 WHERE account_id = ?1",
                params![account.as_str(), period, reason],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }
}
