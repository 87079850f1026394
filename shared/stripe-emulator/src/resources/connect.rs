//! Connect: Express accounts, their onboarding links (single use, five minutes), and
//! transfers, checked against the balance and the destination's `transfers` capability.

use super::*;

pub(super) fn route(state: &mut State, call: Call) -> Result<Value, Failure> {
    let Call { at, base, method, path, params, .. } = call;
    let metadata = || params.map("metadata");
    match (method.as_str(), path) {
        ("POST", ["accounts"]) => {
            let mut account = fixtures::get("account");
            set(
                &mut account,
                json!({"id": new_id("acct"), "type": params.get("type").unwrap_or("express"), "created": at,
                "country": params.get("country").unwrap_or("US"), "email": params.get("email"), "metadata": metadata(),
                "payouts_enabled": false, "charges_enabled": false, "details_submitted": false,
                "capabilities": {"transfers": "inactive", "card_payments": "inactive"},
                "requirements": {"alternatives": [], "current_deadline": Value::Null, "disabled_reason": "requirements.past_due", "errors": [],
                    "currently_due": ["external_account", "tos_acceptance.date", "tos_acceptance.ip"],
                    "eventually_due": ["external_account", "tos_acceptance.date", "tos_acceptance.ip"], "past_due": [], "pending_verification": []}}),
            );
            Ok(state.insert(account))
        }
        ("GET", ["accounts", id]) => get_object(state, "account", id),
        ("POST", ["account_links"]) => {
            let account = params.required("account")?;
            get_object(state, "account", account)?;
            let id = new_id("acctlink");
            let return_url = params.required("return_url")?;
            let refresh_url = params.required("refresh_url")?;
            let expires_at = at + 300;
            *state.private(&id) = json!({"account": account, "return_url": return_url, "refresh_url": refresh_url, "expires_at": expires_at});
            Ok(
                json!({"object": "account_link", "created": at, "expires_at": expires_at, "url": format!("{base}/connect/{id}")}),
            )
        }
        ("POST", ["transfers"]) => create_transfer(state, at, params),
        ("GET", ["transfers", id]) => get_object(state, "transfer", id),
        ("GET", ["transfers"]) => {
            let group = params.get("transfer_group");
            let destination = params.get("destination");
            let found = state
                .newest_first("transfer")
                .filter(|t| group.is_none_or(|g| t["transfer_group"] == g))
                .filter(|t| destination.is_none_or(|d| t["destination"] == d))
                .cloned()
                .collect();
            page(found, params, "/v1/transfers")
        }
        _ => Err(unrecognized(method, path)),
    }
}

fn create_transfer(state: &mut State, at: i64, params: &Params) -> Result<Value, Failure> {
    let amount = params.int("amount")?.ok_or_else(|| Failure::missing("amount"))?;
    if amount <= 0 {
        return Err(Failure::invalid("This value must be greater than or equal to 1.").param("amount"));
    }
    let currency = params.required("currency")?.to_ascii_lowercase();
    let destination = params.required("destination")?;
    let account = get_object(state, "account", destination).map_err(|failure| failure.param("destination"))?;
    if account["capabilities"]["transfers"] != "active" {
        return Err(Failure::coded(
            "insufficient_capabilities_for_transfer",
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        )
        .param("destination"));
    }
    if billing::balance(state, &currency) < amount {
        return Err(Failure::coded(
            "balance_insufficient",
            "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card.",
        ));
    }
    let mut transfer = fixtures::get("transfer");
    let id = new_id("tr");
    set(
        &mut transfer,
        json!({"id": id, "amount": amount, "amount_reversed": 0, "currency": currency, "destination": destination,
        "transfer_group": params.get("transfer_group"), "metadata": params.map("metadata"), "description": params.get("description"),
        "created": at, "reversed": false, "balance_transaction": new_id("txn"), "destination_payment": new_id("py"),
        "source_transaction": Value::Null,
        "reversals": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/transfers/{id}/reversals")}}),
    );
    state.emit("transfer.created", &transfer, None, None, at);
    Ok(state.insert(transfer))
}
