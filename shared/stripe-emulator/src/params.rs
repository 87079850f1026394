//! A request's form parameters as Stripe nests them (`metadata[account_id]`,
//! `line_items[0][price]`, `expand[]`), read with Stripe's errors for a bad value.

use crate::failure::Failure;
use axum::http::Method;
use serde_json::{Map, Value, json};

/// A request's parameters, decoded, in order: `metadata[account_id]`, `lookup_keys[0]`…
pub struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn decode(text: &[u8]) -> Self {
        Self(form_urlencoded::parse(text).into_owned().collect())
    }

    /// Every parameter as it was sent, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| Failure::missing(name))
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, Failure> {
        self.get(name)
            .map(|value| {
                value.parse().map_err(|_| {
                    Failure::coded("parameter_invalid_integer", &format!("Invalid integer: {value}")).param(name)
                })
            })
            .transpose()
    }

    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>, Failure> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Failure::invalid(&format!("Invalid boolean: {other}")).param(name)),
        }
    }

    /// The hash `prefix[key]=value…` (`metadata`, `subscription_data[metadata]`).
    pub fn map(&self, prefix: &str) -> Map<String, Value> {
        self.0
            .iter()
            .filter_map(|(key, value)| {
                let inner = key.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')?;
                (!inner.contains('[')).then(|| (inner.to_owned(), json!(value)))
            })
            .collect()
    }

    /// The array `name[]=…` or `name[0]=…`.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| {
                key.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('['))
                    .and_then(|rest| rest.strip_suffix(']'))
                    .is_some_and(|index| index.chars().all(|c| c.is_ascii_digit()))
            })
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// Stripe compares parameters, not their order (a hash serialises in any order).
    pub(crate) fn fingerprint(&self, method: &Method, path: &str) -> String {
        let mut sorted = self.0.clone();
        sorted.sort();
        format!("{method} {path} {sorted:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_read_as_stripe_nests_them() {
        let params = Params::decode(
            b"metadata[account_id]=user_a&subscription_data[metadata][sku]=api_pro&lookup_keys[0]=a&lookup_keys[1]=b&expand[]=data.product&empty=",
        );
        assert_eq!(params.map("metadata"), Map::from_iter([("account_id".to_owned(), json!("user_a"))]));
        assert_eq!(params.map("subscription_data[metadata]")["sku"], "api_pro");
        assert_eq!(params.list("lookup_keys"), ["a", "b"]);
        assert_eq!(params.list("expand"), ["data.product"]);
        assert_eq!(params.get("empty"), None, "an empty value is no value");
        let reordered = Params::decode(b"lookup_keys[1]=b&lookup_keys[0]=a&expand[]=data.product&empty=&subscription_data[metadata][sku]=api_pro&metadata[account_id]=user_a");
        assert_eq!(params.fingerprint(&Method::POST, "x"), reordered.fingerprint(&Method::POST, "x"));
    }
}
