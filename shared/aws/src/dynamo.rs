//! Small helpers over the DynamoDB SDK.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use tollgate_app::ports::error::{ErrorKind, PortError};
use tollgate_records::Stored;

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A failed SDK call as a port error: its kind from the service's error code (throttled,
/// cancelled by a concurrent transaction, or never answered: transient), its text with the
/// whole chain of causes, and the SDK error as its source.
pub fn sdk<E, R>(error: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code).map(str::to_owned);
    let kind = match code.as_deref() {
        Some("ConditionalCheckFailedException" | "TransactionConflictException") => ErrorKind::Conflict,
        Some("ResourceNotFoundException" | "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist") => {
            ErrorKind::NotFound
        }
        Some("ValidationException" | "SerializationException" | "InvalidParameterValue") => ErrorKind::Invalid,
        _ => ErrorKind::Transient,
    };
    PortError::caused_by(kind, DisplayErrorContext(&error).to_string(), error)
}

/// The schema of the items tollgate puts, written into each as `schema_version`. An item
/// without one predates versioning (or was only ever updated in place) and is read as it
/// is; one from a newer release is refused (corrupt, for this release) rather than read
/// with fields dropped.
pub const ITEM_SCHEMA_VERSION: i64 = 1;
const VERSION_ATTRIBUTE: &str = "schema_version";

pub fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, PortError> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
        .map_err(|e| PortError::caused_by(ErrorKind::Invalid, format!("encoding an item: {e}"), e))?;
    item.insert(VERSION_ATTRIBUTE.to_owned(), n(ITEM_SCHEMA_VERSION));
    Ok(item)
}

pub fn from_item<T: serde::de::DeserializeOwned>(mut item: Item) -> Result<T, PortError> {
    let version = item.remove(VERSION_ATTRIBUTE);
    let version = version.as_ref().and_then(|version| version.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
    if let Some(version) = version.filter(|&version| version > ITEM_SCHEMA_VERSION) {
        return Err(PortError::new(ErrorKind::Corrupt, format!("an item of schema {version}, from a newer release")));
    }
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| PortError::caused_by(ErrorKind::Corrupt, format!("decoding an item: {e}"), e))
}

/// A domain value as an item: its record of `tollgate-records`, versioned.
pub fn to_stored<T: Stored>(value: &T) -> Result<Item, PortError> {
    to_item(&value.to_record())
}

/// The domain value an item holds as its record.
pub fn from_stored<T: Stored>(item: Item) -> Result<T, PortError> {
    from_item::<T::Record>(item).map(T::from_record)
}

/// The domain value stored under `key` in `table`, read consistently.
pub async fn get_stored<T: Stored>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &[(&str, AttributeValue)],
) -> Result<Option<T>, PortError> {
    Ok(get::<T::Record>(client, table, key).await?.map(T::from_record))
}

/// The item under `key` in `table`, read consistently (a write that just returned is seen).
pub async fn get<T: serde::de::DeserializeOwned>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &[(&str, AttributeValue)],
) -> Result<Option<T>, PortError> {
    let mut request = client.get_item().table_name(table).consistent_read(true);
    for (name, value) in key {
        request = request.key(*name, value.clone());
    }
    let output = request.send().await.map_err(sdk)?;
    output.item.map(from_item).transpose()
}

/// Every item of partition `pk` whose `sk` starts with `prefix`, read consistently, page after page.
pub async fn items_under<T: serde::de::DeserializeOwned>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: AttributeValue,
    prefix: &str,
) -> Result<Vec<T>, PortError> {
    let query = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", pk)
        .expression_attribute_values(":prefix", s(prefix))
        .consistent_read(true);
    query_all(query).await
}

/// Every item `query` finds, page after page.
pub async fn query_all<T: serde::de::DeserializeOwned>(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<T>, PortError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = Box::pin(query.clone().set_exclusive_start_key(start).send()).await.map_err(sdk)?;
        for item in output.items.unwrap_or_default() {
            items.push(from_item(item)?);
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Whether a conditional write was refused because its condition did not hold,
/// which for tollgate means "already done" or "stale", not a failure.
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// A transaction item the SDK could build, or why not.
pub fn built<T, E: std::error::Error + Send + Sync + 'static>(result: Result<T, E>) -> Result<T, PortError> {
    result.map_err(|e| PortError::caused_by(ErrorKind::Invalid, format!("building a transaction: {e}"), e))
}

/// How a transaction ended: committed, or cancelled with the reason code of each of
/// its items in order (`ConditionalCheckFailed`, `TransactionConflict`, `None`…).
pub enum Transacted {
    Committed,
    Cancelled(Vec<String>),
}

pub async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<Transacted, PortError> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match client.transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => Ok(Transacted::Committed),
        Err(error) => match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Ok(Transacted::Cancelled(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().unwrap_or("None").to_owned())
                    .collect(),
            )),
            _ => Err(sdk(error)),
        },
    }
}

/// Attempts at an optimistic write (read, decide, write under a version condition)
/// before giving up: each failure means another writer made progress.
pub const OPTIMISTIC_ATTEMPTS: usize = 8;

/// Whether a conditional write took effect: `false` when its condition did not hold.
pub fn took_effect<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, PortError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_condition_failure(&error) => Ok(false),
        Err(error) => Err(sdk(error)),
    }
}
