//! Decoding helpers: stored text back into typed values, with a clear error when a row is bad.

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(col)?)
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(col)?)
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

pub(crate) fn opt_date(row: &AnyRow, col: &str) -> Result<Option<time::Date>, StoreError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    opt_text(row, col)?
        .map(|raw| {
            time::Date::parse(&raw, format).map_err(|e| StoreError::corrupt(format!("column {col} = {raw:?}: {e}")))
        })
        .transpose()
}

pub(crate) fn parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let raw = text(row, col)?;
    raw.parse().map_err(|e| StoreError::corrupt(format!("column {col} = {raw:?}: {e}")))
}

pub(crate) fn opt_parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    opt_text(row, col)?
        .map(|raw| raw.parse().map_err(|e| StoreError::corrupt(format!("column {col} = {raw:?}: {e}"))))
        .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let raw = text(row, col)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::corrupt(format!("column {col}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own plain data types cannot fail (no maps with non-string keys).
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}
