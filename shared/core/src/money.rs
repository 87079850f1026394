//! Money in integer minor units with its currency. Never floats.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An ISO 4217 currency code, lower case as Stripe writes it (`usd`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

#[derive(Debug, Error, PartialEq, Eq)]
#[error("currency must be three ASCII letters, got {0:?}")]
/// A currency code that is not three letters.
pub struct InvalidCurrency(pub String);

impl Currency {
    /// Checks a code and lower-cases it.
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(code.to_ascii_lowercase()))
        } else {
            Err(InvalidCurrency(code.to_owned()))
        }
    }

    /// The code, lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

/// An amount in the currency's minor unit (cents for `usd`). Debits are negative.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cents {
    /// Minor units.
    pub amount: i64,
    /// The currency of `amount`.
    pub currency: Currency,
}

impl Cents {
    /// An amount of minor units of `currency`.
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// `percent`% of this amount, rounded down: a commission never pays out a
    /// fraction of a cent the business did not receive.
    pub fn percent_floor(&self, percent: u8) -> Cents {
        let amount = (i128::from(self.amount) * i128::from(percent)).div_euclid(100);
        Cents::new(amount as i64, self.currency.clone())
    }
}
