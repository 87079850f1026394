use crate::Sqlite;
use crate::records::{from_json, to_json};
use rusqlite::{Connection, OptionalExtension, params};
use tollgate_app::ports::purchases::{Delivery, Purchase, Purchases, PurchasesError};
use tollgate_core::ids::AccountId;

fn failed(error: crate::DbError) -> PurchasesError {
    PurchasesError(error.into())
}

fn load(db: &Connection, account: &str, id: &str) -> rusqlite::Result<Option<Purchase>> {
    db.query_row("SELECT data FROM purchases WHERE id = ?1 AND account_id = ?2", [id, account], from_json).optional()
}

fn store(db: &Connection, purchase: &Purchase) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO purchases (id, account_id, payment_ref, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        params![purchase.id, purchase.account_id.as_str(), purchase.payment_ref, to_json(purchase)?],
    )
    .map(drop)
}

impl Purchases for Sqlite {
    async fn record_purchase(&self, purchase: &Purchase) -> Result<Purchase, PurchasesError> {
        let purchase = purchase.clone();
        self.call(move |db| {
            if let Some(stored) = load(db, purchase.account_id.as_str(), &purchase.id)? {
                return Ok(stored);
            }
            store(db, &purchase).map(|()| purchase)
        })
        .await
        .map_err(failed)
    }

    async fn purchase(&self, account: &AccountId, id: &str) -> Result<Option<Purchase>, PurchasesError> {
        let (account, id) = (account.clone(), id.to_owned());
        self.call(move |db| load(db, account.as_str(), &id)).await.map_err(failed)
    }

    async fn purchases(&self, account: &AccountId) -> Result<Vec<Purchase>, PurchasesError> {
        let account = account.clone();
        self.call(move |db| {
            let mut statement = db.prepare("SELECT data FROM purchases WHERE account_id = ?1")?;
            statement.query_map([account.as_str()], from_json)?.collect()
        })
        .await
        .map_err(failed)
    }

    async fn set_delivery(&self, account: &AccountId, id: &str, delivery: Delivery) -> Result<(), PurchasesError> {
        let (account, id) = (account.clone(), id.to_owned());
        self.call(move |db| match load(db, account.as_str(), &id)? {
            Some(purchase) => store(db, &Purchase { delivery, ..purchase }),
            None => Ok(()),
        })
        .await
        .map_err(failed)
    }

    async fn set_download_url(&self, account: &AccountId, id: &str, url: &str) -> Result<(), PurchasesError> {
        let (account, id, url) = (account.clone(), id.to_owned(), url.to_owned());
        self.call(move |db| match load(db, account.as_str(), &id)? {
            Some(purchase) => store(db, &Purchase { download_url: Some(url), ..purchase }),
            None => Ok(()),
        })
        .await
        .map_err(failed)
    }

    async fn revoke_paid_by(&self, payment_ref: &str) -> Result<usize, PurchasesError> {
        let payment_ref = payment_ref.to_owned();
        self.call(move |db| {
            let paid: Vec<Purchase> = {
                let mut statement = db.prepare("SELECT data FROM purchases WHERE payment_ref = ?1")?;
                statement.query_map([&payment_ref], from_json)?.collect::<rusqlite::Result<_>>()?
            };
            let mut revoked = 0;
            for purchase in paid.into_iter().filter(|purchase| !purchase.revoked) {
                store(db, &Purchase { revoked: true, ..purchase })?;
                revoked += 1;
            }
            Ok(revoked)
        })
        .await
        .map_err(failed)
    }
}
