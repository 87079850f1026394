//! The records of `tollgate-records`, as JSON in `data` columns, each carrying the
//! `schema_version` it was written with.

use rusqlite::Row;
use tollgate_records::Stored;

/// The schema of the JSON records in `data` columns, written into each as `schema_version`.
/// A record without one predates versioning and is read as it is; one from a newer
/// release is refused (corrupt, for this release) rather than read with fields dropped.
pub const RECORD_SCHEMA_VERSION: u64 = 1;
const VERSION_FIELD: &str = "schema_version";

pub(crate) fn to_json<T: Stored>(value: &T) -> rusqlite::Result<String> {
    let failed = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let mut record = serde_json::to_value(value.to_record()).map_err(failed)?;
    if let Some(fields) = record.as_object_mut() {
        fields.insert(VERSION_FIELD.to_owned(), RECORD_SCHEMA_VERSION.into());
    }
    serde_json::to_string(&record).map_err(failed)
}

pub(crate) fn from_json<T: Stored>(row: &Row<'_>) -> rusqlite::Result<T> {
    let data: String = row.get(0)?;
    let corrupt = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e)
    };
    let mut record: serde_json::Value = serde_json::from_str(&data).map_err(|e| corrupt(Box::new(e)))?;
    let version = record.as_object_mut().and_then(|fields| fields.remove(VERSION_FIELD));
    if let Some(version) = version.and_then(|version| version.as_u64()).filter(|&v| v > RECORD_SCHEMA_VERSION) {
        return Err(corrupt(format!("a record of schema {version}, from a newer release").into()));
    }
    serde_json::from_value(record).map(T::from_record).map_err(|e| corrupt(Box::new(e)))
}
