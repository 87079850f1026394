//! Purchases in the `accounts` table: `ACCOUNT#{id}` / `PURCHASE#{cs_…}` holds one; a
//! `PAYMENT#{pi_…}` / `PURCHASE#{cs_…}` item maps the payment back to it, for refunds.

use crate::Aws;
use crate::dynamo::{from_item, get, is_condition_failure, items_under, s, sdk, to_item};
use serde::{Deserialize, Serialize};
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::purchases::{Delivery, Purchase, Purchases, PurchasesError};
use tollgate_core::ids::AccountId;
use tollgate_records::{PurchaseRecord, Stored};

fn failed(error: PortError) -> PurchasesError {
    PurchasesError(error)
}

#[derive(Serialize, Deserialize)]
struct PurchaseItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    purchase: PurchaseRecord,
}

#[derive(Deserialize)]
struct PaymentItem {
    account_id: AccountId,
    purchase_id: String,
}

fn keys(account: &AccountId, id: &str) -> (String, String) {
    (format!("ACCOUNT#{account}"), format!("PURCHASE#{id}"))
}

impl Aws {
    async fn update_purchase(
        &self,
        account: &AccountId,
        id: &str,
        set: &str,
        value: aws_sdk_dynamodb::types::AttributeValue,
    ) -> Result<(), PurchasesError> {
        let (pk, sk) = keys(account, id);
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(format!("SET {set} = :value"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":value", value)
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(failed(sdk(error))),
        }
    }
}

impl Purchases for Aws {
    async fn record_purchase(&self, purchase: &Purchase) -> Result<Purchase, PurchasesError> {
        let (pk, sk) = keys(&purchase.account_id, &purchase.id);
        let item = to_item(&PurchaseItem { pk, sk: sk.clone(), purchase: purchase.to_record() }).map_err(failed)?;
        let put = self
            .dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let stored = match put {
            Ok(_) => purchase.clone(),
            Err(error) if is_condition_failure(&error) => {
                self.purchase(&purchase.account_id, &purchase.id).await?.unwrap_or_else(|| purchase.clone())
            }
            Err(error) => return Err(failed(sdk(error))),
        };
        // Written after the purchase (and again on a redelivery), so a refund always finds it.
        self.dynamo
            .put_item()
            .table_name(&self.resources.accounts_table)
            .item("pk", s(format!("PAYMENT#{}", purchase.payment_ref)))
            .item("sk", s(sk))
            .item("account_id", s(purchase.account_id.as_str()))
            .item("purchase_id", s(&purchase.id))
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        Ok(stored)
    }

    async fn purchase(&self, account: &AccountId, id: &str) -> Result<Option<Purchase>, PurchasesError> {
        let (pk, sk) = keys(account, id);
        let item: Option<PurchaseItem> =
            get(&self.dynamo, &self.resources.accounts_table, &[("pk", s(pk)), ("sk", s(sk))]).await.map_err(failed)?;
        Ok(item.map(|item| Purchase::from_record(item.purchase)))
    }

    async fn purchases(&self, account: &AccountId) -> Result<Vec<Purchase>, PurchasesError> {
        let pk = s(format!("ACCOUNT#{account}"));
        let items: Vec<PurchaseItem> =
            items_under(&self.dynamo, &self.resources.accounts_table, pk, "PURCHASE#").await.map_err(failed)?;
        Ok(items.into_iter().map(|item| Purchase::from_record(item.purchase)).collect())
    }

    async fn set_delivery(&self, account: &AccountId, id: &str, delivery: Delivery) -> Result<(), PurchasesError> {
        let value = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(delivery)
            .map_err(|e| failed(PortError::caused_by(ErrorKind::Invalid, "encoding a delivery state", e)))?;
        self.update_purchase(account, id, "delivery", value).await
    }

    async fn set_download_url(&self, account: &AccountId, id: &str, url: &str) -> Result<(), PurchasesError> {
        self.update_purchase(account, id, "download_url", s(url)).await
    }

    async fn revoke_paid_by(&self, payment_ref: &str) -> Result<usize, PurchasesError> {
        let output = self
            .dynamo
            .query()
            .table_name(&self.resources.accounts_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("PAYMENT#{payment_ref}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed(sdk(e)))?;
        let mut revoked = 0;
        for item in output.items.unwrap_or_default() {
            let paid: PaymentItem = from_item(item).map_err(failed)?;
            if self.purchase(&paid.account_id, &paid.purchase_id).await?.is_some_and(|p| !p.revoked) {
                self.update_purchase(
                    &paid.account_id,
                    &paid.purchase_id,
                    "revoked",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(true),
                )
                .await?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}
