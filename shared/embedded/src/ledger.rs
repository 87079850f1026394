use crate::Sqlite;
use rusqlite::{Row, params};
use tollgate_app::ports::ledger::{Ledger, LedgerError};
use tollgate_core::ids::AccountId;
use tollgate_core::ledger::{EntryKind, LedgerEntry, PaymentSource};
use tollgate_core::money::{Cents, Currency};
use tollgate_core::time::Timestamp;

const COLUMNS: &str = "id, account_id, kind, amount, currency, payment_ref, event_id, at, source";

fn to_entry(row: &Row<'_>) -> rusqlite::Result<LedgerEntry> {
    let corrupt = |index, message: String| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
    };
    let (account, kind, currency, event): (String, String, String, String) =
        (row.get(1)?, row.get(2)?, row.get(4)?, row.get(6)?);
    Ok(LedgerEntry {
        id: row.get(0)?,
        account: AccountId::parse(&account).map_err(|e| corrupt(1, e.to_string()))?,
        kind: EntryKind::parse(&kind).ok_or_else(|| corrupt(2, kind.clone()))?,
        amount: Cents::new(row.get(3)?, Currency::parse(&currency).map_err(|e| corrupt(4, e.to_string()))?),
        payment_ref: row.get(5)?,
        event_id: event,
        at: Timestamp(row.get(7)?),
        source: row.get::<_, Option<String>>(8)?.as_deref().and_then(PaymentSource::parse),
    })
}

fn failed(error: crate::DbError) -> LedgerError {
    LedgerError(error.into())
}

impl Sqlite {
    async fn entries_where(&self, column: &'static str, value: String) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.call(move |db| {
            let sql = format!("SELECT {COLUMNS} FROM ledger WHERE {column} = ?1 ORDER BY seq");
            let mut statement = db.prepare(&sql)?;
            statement.query_map([value], to_entry)?.collect()
        })
        .await
        .map_err(failed)
    }
}

impl Ledger for Sqlite {
    async fn post(&self, entry: &LedgerEntry) -> Result<(), LedgerError> {
        let entry = entry.clone();
        self.call(move |db| {
            // The same rule as LedgerEntry::supersedes, as one statement so concurrent posts cannot interleave.
            db.execute(
                "INSERT INTO ledger (id, account_id, kind, amount, currency, payment_ref, event_id, at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, event_id = excluded.event_id, at = excluded.at
                 WHERE abs(excluded.amount) > abs(ledger.amount)",
                params![
                    entry.id,
                    entry.account.as_str(),
                    entry.kind.as_str(),
                    entry.amount.amount,
                    entry.amount.currency.as_str(),
                    entry.payment_ref,
                    entry.event_id.as_str(),
                    entry.at.0,
                    entry.source.map(PaymentSource::as_str)
                ],
            )
            .map(drop)
        })
        .await
        .map_err(failed)
    }

    async fn for_payment(&self, payment_ref: &str) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.entries_where("payment_ref", payment_ref.to_owned()).await
    }

    async fn for_account(&self, account: &AccountId) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.entries_where("account_id", account.as_str().to_owned()).await
    }

    async fn entries_since(&self, kinds: &[EntryKind], from: Timestamp) -> Result<Vec<LedgerEntry>, LedgerError> {
        let kinds = serde_json::to_string(&kinds.iter().map(|kind| kind.as_str()).collect::<Vec<_>>())
            .expect("kinds always serialise");
        self.call(move |db| {
            let sql = format!(
                "SELECT {COLUMNS} FROM ledger WHERE at >= ?1 AND kind IN (SELECT value FROM json_each(?2))
                 ORDER BY at, seq"
            );
            let mut statement = db.prepare(&sql)?;
            statement.query_map(rusqlite::params![from.0, kinds], to_entry)?.collect()
        })
        .await
        .map_err(failed)
    }
}
