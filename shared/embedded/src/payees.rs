use crate::Sqlite;
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::accounts::Applied;
use tollgate_app::ports::payees::{Payee, Payees, PayeesError};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

fn failed(error: crate::DbError) -> PayeesError {
    PayeesError(error.into())
}

fn read(db: &Connection, account: &AccountId) -> rusqlite::Result<Option<Payee>> {
    db.query_row(
        "SELECT connect_account, payouts_enabled FROM payees WHERE account_id = ?1",
        [account.as_str()],
        |row| Ok(Payee { account: account.clone(), connect_account: row.get(0)?, payouts_enabled: row.get(1)? }),
    )
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
}
