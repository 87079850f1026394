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
        // |amount × percent| < 2^71: the product fits i128, and the share fits i64 for percent ≤ 100.
        let amount = i128::from(self.amount).saturating_mul(i128::from(percent)).div_euclid(100);
        Cents::new(i64::try_from(amount).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX }), self.currency.clone())
    }
}

impl Cents {
    /// `basis_points` / 10 000 of the amount, rounded down (toward negative infinity), as
    /// [`Cents::percent_floor`] does for whole percents.
    pub fn basis_points_floor(&self, basis_points: u16) -> Cents {
        // |amount × basis_points| < 2^79: the product fits i128, and the share fits i64 for bp ≤ 10 000.
        let amount = i128::from(self.amount).saturating_mul(i128::from(basis_points)).div_euclid(10_000);
        Cents::new(i64::try_from(amount).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX }), self.currency.clone())
    }
}

/// Stripe's zero-decimal currencies: their amounts have no minor unit.
const ZERO_DECIMAL: [&str; 16] =
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"];
/// Stripe's three-decimal currencies.
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

impl Currency {
    /// Digits after the decimal point in the currency's major unit (2 for `usd`, 0 for
    /// `jpy`, 3 for `kwd`), as Stripe counts them.
    pub fn minor_digits(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }
}

/// Why a decimal amount was refused.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum AmountError {
    /// Not a plain non-negative decimal such as `2.50`.
    #[error("must be a non-negative decimal amount such as 2.50")]
    NotDecimal,
    /// More digits after the point than the currency has.
    #[error("has more decimal places than the currency has")]
    TooPrecise,
    /// Larger than any amount tollgate keeps.
    #[error("is too large")]
    TooLarge,
}

/// Reads a non-negative amount written in major units (`"2.50"` is 250 cents of `usd`)
/// exactly from its decimal text: no float is ever involved, so `0.1 + 0.2` problems
/// cannot arise. Exponents (`2.5e0`), signs and more decimal places than the currency
/// has are refused rather than rounded.
pub fn parse_major_units(text: &str, currency: &Currency) -> Result<i64, AmountError> {
    parse_scaled(text, currency.minor_digits())
}

/// A plain non-negative decimal with at most `places` digits after the point, times
/// 10^`places`: exactly, or refused rather than rounded.
fn parse_scaled(text: &str, places: u32) -> Result<i64, AmountError> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || (text.contains('.') && fraction.is_empty())
    {
        return Err(AmountError::NotDecimal);
    }
    let written = u32::try_from(fraction.len()).map_err(|_| AmountError::TooPrecise)?;
    let missing = places.checked_sub(written).ok_or(AmountError::TooPrecise)?;
    let scaled: i64 = format!("{whole}{fraction}").parse().map_err(|_| AmountError::TooLarge)?;
    10_i64.checked_pow(missing).and_then(|scale| scaled.checked_mul(scale)).ok_or(AmountError::TooLarge)
}

/// An amount in micro-units: 1/1 000 000 of the currency's major unit (a dollar), so the
/// price of one message or one token (`0.05` cents) is kept exactly, without floats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Micros(pub i64);

/// Micro-units in one major unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

impl Micros {
    /// Micro-units in one minor unit of `currency` (10 000 per cent of `usd`).
    pub fn per_minor_unit(currency: &Currency) -> i64 {
        // minor_digits() is at most 3, so the power is at most 10^6.
        10_i64.pow(6_u32.saturating_sub(currency.minor_digits()))
    }

    /// `cents` minor units of `currency`, exactly.
    pub fn from_minor(cents: i64, currency: &Currency) -> Micros {
        Micros(cents.saturating_mul(Self::per_minor_unit(currency)))
    }

    /// Whole minor units, rounded toward negative infinity: what can be paid out or shown
    /// in cents without ever showing more than there is.
    pub fn minor_floor(self, currency: &Currency) -> i64 {
        self.0.div_euclid(Self::per_minor_unit(currency))
    }

    /// Reads Stripe's `unit_amount_decimal`: a non-negative decimal of minor units
    /// (`"0.5"` is half a cent of `usd`), exact down to the micro-unit and refused below it.
    pub fn parse_minor_decimal(text: &str, currency: &Currency) -> Result<Micros, AmountError> {
        // A minor unit holds 10^(6 - minor digits) micro-units: that many decimal places.
        parse_scaled(text, 6_u32.saturating_sub(currency.minor_digits())).map(Micros)
    }

    /// The sum, or `None` past what an `i64` holds.
    pub fn checked_add(self, other: Micros) -> Option<Micros> {
        self.0.checked_add(other.0).map(Micros)
    }

    /// `units` times this price, or `None` past what an `i64` holds.
    pub fn checked_times(self, units: u64) -> Option<Micros> {
        i64::try_from(units).ok().and_then(|units| self.0.checked_mul(units)).map(Micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn major_units_are_read_exactly() {
        assert_eq!(parse_major_units("2.50", &usd()), Ok(250));
        assert_eq!(parse_major_units("2.5", &usd()), Ok(250));
        assert_eq!(parse_major_units("2", &usd()), Ok(200));
        assert_eq!(parse_major_units("0.01", &usd()), Ok(1));
        assert_eq!(parse_major_units("100000.00", &usd()), Ok(10_000_000));
        assert_eq!(parse_major_units("1250", &Currency::parse("JPY").unwrap()), Ok(1250));
        assert_eq!(parse_major_units("1.250", &Currency::parse("kwd").unwrap()), Ok(1250));
    }

    #[test]
    fn anything_but_a_plain_decimal_is_refused() {
        for text in ["", ".5", "2.", "-1", "+1", "1e3", "2.5e0", "0x10", "1,5", " 1", "NaN", "∞", "1.2.3"] {
            assert_eq!(parse_major_units(text, &usd()), Err(AmountError::NotDecimal), "{text:?}");
        }
        assert_eq!(parse_major_units("2.505", &usd()), Err(AmountError::TooPrecise));
        assert_eq!(parse_major_units("1.5", &Currency::parse("jpy").unwrap()), Err(AmountError::TooPrecise));
        assert_eq!(parse_major_units("9223372036854775807", &usd()), Err(AmountError::TooLarge));
        assert_eq!(parse_major_units("99999999999999999999999", &usd()), Err(AmountError::TooLarge));
    }

    #[test]
    fn unit_prices_are_read_to_the_micro_unit() {
        let usd = usd();
        assert_eq!(Micros::parse_minor_decimal("5", &usd), Ok(Micros(50_000)));
        assert_eq!(Micros::parse_minor_decimal("0.5", &usd), Ok(Micros(5_000)));
        assert_eq!(Micros::parse_minor_decimal("0.0001", &usd), Ok(Micros(1)));
        assert_eq!(Micros::parse_minor_decimal("0.00001", &usd), Err(AmountError::TooPrecise));
        assert_eq!(Micros::parse_minor_decimal("0.000001", &Currency::parse("jpy").unwrap()), Ok(Micros(1)));
        assert_eq!(Micros::parse_minor_decimal("-1", &usd), Err(AmountError::NotDecimal));
        assert_eq!(Micros::from_minor(999, &usd), Micros(9_990_000));
        assert_eq!(Micros(-1).minor_floor(&usd), -1);
        assert_eq!(Micros(19_999).minor_floor(&usd), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn cents_written_as_dollars_read_back_exactly(cents in 0_i64..=1_000_000_000_000) {
            let text = format!("{}.{:02}", cents / 100, cents % 100);
            prop_assert_eq!(parse_major_units(&text, &usd()), Ok(cents));
        }

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,40}") {
            if let Ok(cents) = parse_major_units(&text, &usd()) {
                prop_assert!(cents >= 0);
            }
            if let Ok(micros) = Micros::parse_minor_decimal(&text, &usd()) {
                prop_assert!(micros.0 >= 0);
            }
        }

        /// A price in micro-units times any count adds up to the same as adding it that
        /// many times: sums of sub-cent prices never drift.
        #[test]
        fn sub_cent_prices_add_up_exactly(micros in 0_i64..1_000_000, units in 0_u64..10_000) {
            let price = Micros(micros);
            let summed = (0..units).try_fold(Micros(0), |total, _| total.checked_add(price));
            prop_assert_eq!(summed, price.checked_times(units));
            let decimal = format!("{}.{:04}", micros / 10_000, micros % 10_000);
            prop_assert_eq!(Micros::parse_minor_decimal(&decimal, &usd()), Ok(price));
        }
    }
}
