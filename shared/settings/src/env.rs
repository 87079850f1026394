//! Where settings are read from, and the one error a bad one gives.

use thiserror::Error;

/// A setting that stops the start: always named by its variable.
#[derive(Debug, Error)]
pub enum SettingError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("reading {name} {path}: {source}")]
    File { name: &'static str, path: String, source: std::io::Error },
}

impl SettingError {
    pub fn invalid(name: &'static str, reason: impl std::fmt::Display) -> Self {
        SettingError::Invalid { name, reason: reason.to_string() }
    }
}

/// Where settings are read from: the process environment in a deployed function, the
/// environment over generated defaults in `tollgate dev`, a recording lookup in the
/// configuration check (which proves each function reads what `template.yaml` gives it).
#[derive(Clone, Copy)]
pub struct Env<'a> {
    lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
    required: &'a (dyn Fn(&'static str) + Sync),
}

fn process_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn ignore(_: &'static str) {}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Env { lookup: &process_lookup, required: &ignore }
    }
}

impl<'a> Env<'a> {
    /// Settings from `lookup`; `required` hears the name of each setting read as required.
    pub fn new(
        lookup: &'a (dyn Fn(&str) -> Option<String> + Sync),
        required: &'a (dyn Fn(&'static str) + Sync),
    ) -> Self {
        Env { lookup, required }
    }

    /// Settings from `lookup` alone.
    pub fn from(lookup: &'a (dyn Fn(&str) -> Option<String> + Sync)) -> Self {
        Env { lookup, required: &ignore }
    }

    /// A setting; unset and blank are the same.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, SettingError> {
        (self.required)(name);
        self.optional(name).ok_or(SettingError::Missing(name))
    }

    /// A whole number, `default` when unset.
    pub fn number<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, SettingError> {
        self.optional(name).map_or(Ok(default), |value| {
            value.parse().map_err(|_| SettingError::invalid(name, "must be a whole number"))
        })
    }

    /// A whole number within `range`, `default` when unset.
    pub fn number_in(
        &self,
        name: &'static str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, SettingError> {
        let Some(text) = self.optional(name) else { return Ok(default) };
        text.parse::<i64>().ok().filter(|value| range.contains(value)).ok_or_else(|| {
            SettingError::invalid(name, format!("must be a whole number from {} to {}", range.start(), range.end()))
        })
    }

    /// An `http://` or `https://` URL without spaces, control characters or credentials.
    pub fn url(&self, name: &'static str) -> Result<Option<String>, SettingError> {
        match self.optional(name) {
            Some(url) => match tollgate_core::workflow::WebhookUrl::parse(&url) {
                Ok(_) => Ok(Some(url)),
                Err(_) => Err(SettingError::invalid(
                    name,
                    "must be an http:// or https:// URL, without spaces, control characters or credentials",
                )),
            },
            None => Ok(None),
        }
    }

    /// As [`Env::url`], and required.
    pub fn required_url(&self, name: &'static str) -> Result<String, SettingError> {
        (self.required)(name);
        self.url(name)?.ok_or(SettingError::Missing(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_unset_and_a_bad_value_is_named() {
        let lookup = |name: &str| match name {
            "BLANK" => Some("  ".to_owned()),
            "WORDS" => Some("ten".to_owned()),
            "URL" => Some("ftp://example.com".to_owned()),
            _ => None,
        };
        let env = Env::from(&lookup);
        assert_eq!(env.optional("BLANK"), None);
        assert_eq!(env.required("BLANK").unwrap_err().to_string(), "BLANK is not set");
        assert_eq!(env.number("WORDS", 1u32).unwrap_err().to_string(), "WORDS must be a whole number");
        assert_eq!(env.number("UNSET", 7u32).unwrap(), 7);
        assert!(env.url("URL").unwrap_err().to_string().starts_with("URL must be an http:// or https:// URL"));
        assert_eq!(
            env.number_in("WORDS", 0, 0..=5).unwrap_err().to_string(),
            "WORDS must be a whole number from 0 to 5"
        );
    }
}
