//! Payees live in the `accounts` table beside the profile: `ACCOUNT#{id}` / `PAYEE`.

use crate::Aws;
use crate::accounts::{account_in_key, account_key};
use crate::dynamo::{Item, from_item, is_condition_failure, n, s, sdk};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::Deserialize;
use tollgate_app::ports::accounts::Applied;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_app::ports::payees::{FailedPayout, Payee, Payees, PayeesError};
use tollgate_core::ids::AccountId;
use tollgate_core::time::Timestamp;

#[derive(Deserialize)]
struct PayeeItem {
    connect_account: String,
    #[serde(default)]
    payouts_enabled: bool,
    failed_period: Option<String>,
    failed_reason: Option<String>,
}

fn payee_from(account: &AccountId, item: Item) -> Result<Payee, PayeesError> {
    let stored: PayeeItem = from_item(item).map_err(PayeesError)?;
    Ok(Payee {
        account: account.clone(),
        connect_account: stored.connect_account,
        payouts_enabled: stored.payouts_enabled,
        failed_payout: stored
            .failed_period
            .zip(stored.failed_reason)
            .map(|(period, reason)| FailedPayout { period, reason }),
    })
}

impl Payees for Aws {
    async fn payee(&self, account: &AccountId) -> Result<Option<Payee>, PayeesError> {
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s("PAYEE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| PayeesError(sdk(e)))?;
        output.item.map(|item| payee_from(account, item)).transpose()
    }

    async fn link_payee(&self, account: &AccountId, connect_account: &str) -> Result<Payee, PayeesError> {
        // One write: the first link stays, and the item as stored comes back.
        let output = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s("PAYEE"))
            .update_expression(
                "SET connect_account = if_not_exists(connect_account, :connect), \
                 payouts_enabled = if_not_exists(payouts_enabled, :no), as_of = if_not_exists(as_of, :never)",
            )
            .expression_attribute_values(":connect", s(connect_account))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":never", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| PayeesError(sdk(e)))?;
        let item = output
            .attributes
            .ok_or_else(|| PayeesError(PortError::new(ErrorKind::Corrupt, "the payee write returned nothing")))?;
        payee_from(account, item)
    }

    async fn record_payouts_enabled(
        &self,
        account: &AccountId,
        connect_account: &str,
        payouts_enabled: bool,
        as_of: Timestamp,
    ) -> Result<Applied, PayeesError> {
        let update = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s("PAYEE"))
            .update_expression("SET connect_account = :connect, payouts_enabled = :enabled, as_of = :as_of")
            .condition_expression("attribute_not_exists(pk) OR (connect_account = :connect AND as_of < :as_of)")
            .expression_attribute_values(":connect", s(connect_account))
            .expression_attribute_values(":enabled", AttributeValue::Bool(payouts_enabled))
            .expression_attribute_values(":as_of", n(as_of.0))
            .send()
            .await;
        match update {
            Ok(_) => Ok(Applied::Applied),
            Err(error) if is_condition_failure(&error) => Ok(Applied::Stale),
            Err(error) => Err(PayeesError(sdk(error))),
        }
    }

    async fn payees_enabled(&self) -> Result<Vec<Payee>, PayeesError> {
        let mut payees = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .dynamo
                .scan()
                .table_name(&self.resources.accounts_table)
                .filter_expression("sk = :payee AND payouts_enabled = :yes")
                .expression_attribute_values(":payee", s("PAYEE"))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| PayeesError(sdk(e)))?;
            for mut item in output.items.unwrap_or_default() {
                let account =
                    item.remove("pk").and_then(|pk| pk.as_s().ok().and_then(|pk| account_in_key(pk))).ok_or_else(
                        || PayeesError(PortError::new(ErrorKind::Corrupt, "a payee item has no valid account key")),
                    )?;
                payees.push(payee_from(&account, item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                payees.sort_by(|a, b| a.account.cmp(&b.account));
                return Ok(payees);
            }
        }
    }

    async fn record_failed_payout(
        &self,
        account: &AccountId,
        failed: Option<&FailedPayout>,
    ) -> Result<(), PayeesError> {
        let request = self
            .dynamo
            .update_item()
            .table_name(&self.resources.accounts_table)
            .key("pk", account_key(account))
            .key("sk", s("PAYEE"))
            .condition_expression("attribute_exists(pk)");
        let request = match failed {
            Some(failed) => request
                .update_expression("SET failed_period = :period, failed_reason = :reason")
                .expression_attribute_values(":period", s(&failed.period))
                .expression_attribute_values(":reason", s(&failed.reason)),
            None => request.update_expression("REMOVE failed_period, failed_reason"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            // Not linked: there is no payout to record against.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(PayeesError(sdk(error))),
        }
    }
}
