//! The catalog: every SKU, the Stripe price `lookup_key` that names it, and what it grants.

use crate::ids::{AccountId, Sku};
use crate::meters::{self, LimitEntry, Meter, MeterLimit, MeterLimits, MeterName, Overage, Route, UnitPrice};
use crate::money::Currency;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU64;
use thiserror::Error;

/// The catalog shipped with tollgate (`catalog.toml` at the repository root).
pub const DEFAULT_CATALOG: &str = include_str!("../../../catalog.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How often a subscription SKU bills.
pub enum Interval {
    /// Every month.
    Month,
    /// Every year.
    Year,
}

/// Keys an account may hold unless its plan says otherwise.
pub const DEFAULT_MAX_KEYS: u32 = 25;

/// What an API plan allows: a limit per meter, a rate limit per key, and how many keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanLimits {
    /// The limit per meter; a meter not named is unlimited.
    pub meters: MeterLimits,
    /// Per-key rate limit.
    pub requests_per_minute: u32,
    /// Keys the account may hold at once.
    pub max_keys: u32,
    /// Runs of sold workflows the account may have in flight at once.
    pub concurrent_runs: u32,
}

impl PlanLimits {
    /// The limit on `meter` (unlimited when the plan does not name it).
    pub fn on(&self, meter: &MeterName) -> &MeterLimit {
        self.meters.get(meter).unwrap_or(&MeterLimit::UNLIMITED)
    }
}

/// What buying a SKU grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Quotas on meters for API keys.
    ApiPlan {
        /// The plan's tier, as accounts show it (`free`, `pro`, …).
        tier: String,
        /// What it allows.
        limits: PlanLimits,
    },
    /// Premium workflows and perks.
    Membership {
        /// The membership's tier, as accounts show it (`basic`, `pro`, `elite`).
        tier: String,
        /// `None` opens every premium workflow.
        premium_workflows: Option<u32>,
        /// Access to the community.
        community: bool,
        /// The API plan whose limits the membership includes, if any.
        api_plan: Option<Sku>,
        /// Priority support.
        priority_support: bool,
        /// Limits that replace, meter by meter, those of the member's API plan.
        limits: MeterLimits,
    },
    /// A one-off product (a template, a pack) with fulfillment.
    Product {
        /// Where a purchase is announced, signed (e.g. an n8n flow that emails the download
        /// link); none: granted with nothing to deliver.
        fulfillment_url: Option<crate::workflow::WebhookUrl>,
    },
    /// Prepaid request credits.
    Credits {
        /// How many requests the top-up buys.
        credits: u64,
    },
    /// A top-up of the account's money balance.
    Balance {
        /// Minor units credited per unit bought.
        amount_cents: i64,
    },
    /// A subscription to a sold workflow run for the customer on a schedule, with their
    /// parameters (the marketplace brief's strategies).
    WorkflowSubscription {
        /// The sold workflow each instance runs.
        workflow: crate::ids::WorkflowId,
        /// What a subscriber's parameters must be (JSON Schema): each run's `input`.
        params_schema: serde_json::Value,
        /// When instances run; none: on the workflow's own schedule.
        schedule: Option<crate::cron::Schedule>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One SKU of the catalog.
pub struct Item {
    /// Our name for it.
    pub sku: Sku,
    /// The Stripe price `lookup_key` that names it (none for the free plan).
    pub lookup_key: Option<String>,
    /// Shown to buyers.
    pub name: String,
    /// Price in minor units of `currency`.
    pub price_cents: i64,
    /// The price's currency.
    pub currency: Currency,
    /// Billing interval; `None` for one-off purchases.
    pub interval: Option<Interval>,
    /// What buying it grants.
    pub grant: Grant,
    /// A partner (a creator, a strategist) who earns a share of each payment for it.
    pub partner: Option<AccountId>,
    /// The partner's share in basis points: 7000 is 70%.
    pub partner_share_bp: u16,
}

impl Item {
    /// The lookup key of the metered price that invoices this plan's overage on `meter`.
    pub fn overage_lookup_key(&self, meter: &MeterName) -> Option<String> {
        self.lookup_key.as_ref().map(|key| format!("{key}_{meter}_overage"))
    }

    /// The meters this plan bills past their quota, with the unit price.
    pub fn billed_meters(&self) -> impl Iterator<Item = (&MeterName, &UnitPrice)> {
        let meters = match &self.grant {
            Grant::ApiPlan { limits, .. } => Some(&limits.meters),
            _ => None,
        };
        meters.into_iter().flatten().filter_map(|(meter, limit)| match &limit.overage {
            Overage::Bill(price) => Some((meter, price)),
            _ => None,
        })
    }
}

/// One `[[sku]]` as the file writes it.
#[derive(Debug, Deserialize)]
struct Entry {
    sku: Sku,
    lookup_key: Option<String>,
    name: String,
    price_cents: i64,
    currency: Currency,
    interval: Option<Interval>,
    #[serde(flatten)]
    grant: GrantEntry,
    #[serde(default)]
    partner: Option<AccountId>,
    #[serde(default = "default_partner_share")]
    partner_share_bp: u16,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum GrantEntry {
    ApiPlan {
        tier: String,
        requests_per_minute: u32,
        max_keys: Option<u32>,
        concurrent_runs: Option<u32>,
        #[serde(default)]
        limits: BTreeMap<MeterName, LimitEntry>,
        // The fields before meters: still read, as the limit on `requests`.
        monthly_requests: Option<u64>,
        overage: Option<bool>,
    },
    Membership {
        tier: String,
        premium_workflows: Option<u32>,
        #[serde(default)]
        community: bool,
        api_plan: Option<Sku>,
        #[serde(default)]
        priority_support: bool,
        #[serde(default)]
        limits: BTreeMap<MeterName, LimitEntry>,
    },
    Product {
        #[serde(default)]
        fulfillment_url: Option<crate::workflow::WebhookUrl>,
    },
    Credits {
        credits: u64,
    },
    Balance {
        amount_cents: i64,
    },
    WorkflowSubscription {
        workflow: crate::ids::WorkflowId,
        /// A TOML table, or a string holding JSON.
        params_schema: toml::Value,
        schedule: Option<crate::cron::ScheduleSpec>,
    },
}

fn resolve_limits(
    sku: &Sku,
    entries: BTreeMap<MeterName, LimitEntry>,
    currency: &Currency,
) -> Result<MeterLimits, CatalogError> {
    entries
        .into_iter()
        .map(|(meter, entry)| {
            let limit = entry.resolve(currency).map_err(|error| CatalogError::Limit {
                sku: sku.to_string(),
                meter: meter.to_string(),
                error,
            })?;
            Ok((meter, limit))
        })
        .collect()
}

impl Entry {
    fn resolve(self) -> Result<Item, CatalogError> {
        let sku = &self.sku;
        let grant = match self.grant {
            GrantEntry::ApiPlan {
                tier,
                requests_per_minute,
                max_keys,
                concurrent_runs,
                limits,
                monthly_requests,
                overage,
            } => {
                let mut meters = resolve_limits(sku, limits, &self.currency)?;
                if monthly_requests.is_some() || overage.is_some() {
                    if meters.contains_key(&MeterName::requests()) {
                        return Err(CatalogError::TwoRequestLimits(sku.to_string()));
                    }
                    let entry = LimitEntry::legacy(monthly_requests, overage == Some(true));
                    meters.extend(resolve_limits(sku, [(MeterName::requests(), entry)].into(), &self.currency)?);
                }
                Grant::ApiPlan {
                    tier,
                    limits: PlanLimits {
                        meters,
                        requests_per_minute,
                        max_keys: max_keys.unwrap_or(DEFAULT_MAX_KEYS),
                        concurrent_runs: concurrent_runs.unwrap_or(crate::customer_run::DEFAULT_CONCURRENT_RUNS).max(1),
                    },
                }
            }
            GrantEntry::Membership { tier, premium_workflows, community, api_plan, priority_support, limits } => {
                Grant::Membership {
                    tier,
                    premium_workflows,
                    community,
                    api_plan,
                    priority_support,
                    limits: resolve_limits(sku, limits, &self.currency)?,
                }
            }
            GrantEntry::Product { fulfillment_url } => Grant::Product { fulfillment_url },
            GrantEntry::Credits { credits } => Grant::Credits { credits },
            GrantEntry::Balance { amount_cents } if amount_cents <= 0 => {
                return Err(CatalogError::TopUp(sku.to_string()));
            }
            GrantEntry::Balance { amount_cents } => Grant::Balance { amount_cents },
            GrantEntry::WorkflowSubscription { workflow, params_schema, schedule } => {
                let invalid = |reason: String| CatalogError::WorkflowSubscription { sku: sku.to_string(), reason };
                let params_schema = match params_schema {
                    toml::Value::String(json) => serde_json::from_str(&json)
                        .map_err(|error| invalid(format!("params_schema is not JSON: {error}")))?,
                    table @ toml::Value::Table(_) => {
                        serde_json::to_value(table).map_err(|error| invalid(format!("params_schema: {error}")))?
                    }
                    _ => return Err(invalid("params_schema must be a table or a string of JSON".into())),
                };
                let schedule = schedule
                    .map(|spec| crate::cron::Schedule::parse(&spec.cron, &spec.timezone))
                    .transpose()
                    .map_err(|error| invalid(format!("schedule: {error}")))?;
                if self.interval.is_none() {
                    return Err(invalid("needs an interval: it is sold as a subscription".into()));
                }
                Grant::WorkflowSubscription { workflow, params_schema, schedule }
            }
        };
        Ok(Item {
            sku: self.sku,
            lookup_key: self.lookup_key,
            name: self.name,
            price_cents: self.price_cents,
            currency: self.currency,
            interval: self.interval,
            grant,
            partner: self.partner,
            partner_share_bp: self.partner_share_bp,
        })
    }
}

/// A catalog partner's share unless the entry names another: 70%, as marketplaces pay creators.
pub const DEFAULT_PARTNER_SHARE_BP: u16 = 7_000;

fn default_partner_share() -> u16 {
    DEFAULT_PARTNER_SHARE_BP
}

/// Who earns what share of each payment for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerShare {
    /// The partner's account.
    pub partner: AccountId,
    /// Basis points of each payment, at most 10 000.
    pub basis_points: u16,
}

impl Item {
    /// The partner's share of each payment for this item, if it names a partner.
    pub fn partner_share(&self) -> Option<PartnerShare> {
        self.partner.clone().map(|partner| PartnerShare { partner, basis_points: self.partner_share_bp })
    }
}

#[derive(Debug, Error)]
/// Why a catalog file was refused.
pub enum CatalogError {
    #[error("the catalog is not valid TOML: {0}")]
    /// The file is not valid TOML or not shaped like a catalog.
    Syntax(#[from] toml::de::Error),
    #[error("SKU {0} appears twice")]
    /// Two entries share a SKU.
    DuplicateSku(String),
    #[error("lookup key {0} names two SKUs")]
    /// Two entries share a lookup key.
    DuplicateLookupKey(String),
    #[error("SKU {0} has a negative price")]
    /// A price below zero.
    NegativePrice(String),
    #[error("SKU {0} gives its partner more than 10000 basis points")]
    /// A partner share over 100%.
    PartnerShare(String),
    #[error("SKU {sku}: the limit on {meter}: {error}")]
    /// A limit that cannot be applied as written.
    Limit {
        /// The entry.
        sku: String,
        /// The meter it limits.
        meter: String,
        /// What is wrong.
        error: meters::LimitError,
    },
    #[error("SKU {0} sets monthly_requests or overage and also [limits.requests]: say it once")]
    /// The old and the new way of limiting `requests`, both.
    TwoRequestLimits(String),
    #[error("SKU {0}: a balance top-up needs a positive amount_cents")]
    /// A top-up of nothing.
    TopUp(String),
    #[error("SKU {sku}: {reason}")]
    /// A workflow subscription that cannot be sold as written.
    WorkflowSubscription {
        /// The entry.
        sku: String,
        /// What is wrong.
        reason: String,
    },
    #[error("meter {0} is declared twice")]
    /// Two meters share a name.
    DuplicateMeter(String),
    #[error("the Stripe event name {0} names two meters")]
    /// Two meters report under one Stripe event name.
    DuplicateEventName(String),
    #[error("{0} names meter {1}, which the catalog does not declare")]
    /// A route or a limit on a meter nobody declared.
    UnknownMeter(String, String),
    #[error("route {0}: {1}")]
    /// A route that cannot be matched as written.
    Route(String, &'static str),
    #[error("there is no free API plan (an api_plan with price 0) to fall back on")]
    /// No free API plan to fall back on.
    NoFreePlan,
}

#[derive(Debug, Deserialize)]
struct File {
    sku: Vec<Entry>,
    #[serde(default)]
    meter: Vec<MeterEntry>,
    #[serde(default)]
    route: Vec<RouteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeterEntry {
    name: MeterName,
    display: String,
    unit: String,
    stripe_event_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    prefix: String,
    meter: MeterName,
    cost: NonZeroU64,
}

/// The parsed catalog, indexed by SKU and by lookup key.
#[derive(Debug, Clone)]
pub struct Catalog {
    items: Vec<Item>,
    by_lookup_key: HashMap<String, usize>,
    meters: Vec<Meter>,
    /// Longest prefix first, so the first that covers a path is the one that wins.
    routes: Vec<Route>,
}

impl Catalog {
    /// Parses and checks a catalog file.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let file: File = toml::from_str(text)?;
        let items = file.sku.into_iter().map(Entry::resolve).collect::<Result<Vec<_>, _>>()?;
        let mut by_lookup_key = HashMap::new();
        let mut skus = HashSet::new();
        for (index, item) in items.iter().enumerate() {
            if !skus.insert(item.sku.clone()) {
                return Err(CatalogError::DuplicateSku(item.sku.to_string()));
            }
            if item.price_cents < 0 {
                return Err(CatalogError::NegativePrice(item.sku.to_string()));
            }
            if item.partner_share_bp > 10_000 {
                return Err(CatalogError::PartnerShare(item.sku.to_string()));
            }
            if let Some(key) = &item.lookup_key
                && by_lookup_key.insert(key.clone(), index).is_some()
            {
                return Err(CatalogError::DuplicateLookupKey(key.clone()));
            }
        }
        let meters = Self::meters_of(file.meter)?;
        let known = |name: &MeterName| meters.iter().any(|meter| &meter.name == name);
        let mut routes = Vec::new();
        for entry in file.route {
            let prefix = entry.prefix.strip_suffix('/').unwrap_or(&entry.prefix).to_owned();
            if !prefix.starts_with("/v1/") || prefix.len() <= "/v1/".len() {
                return Err(CatalogError::Route(entry.prefix, "the prefix must be a path under /v1/"));
            }
            if routes.iter().any(|route: &Route| route.prefix == prefix) {
                return Err(CatalogError::Route(entry.prefix, "the prefix is declared twice"));
            }
            if !known(&entry.meter) {
                return Err(CatalogError::UnknownMeter(format!("route {prefix}"), entry.meter.to_string()));
            }
            routes.push(Route { prefix, meter: entry.meter, cost: entry.cost });
        }
        routes.sort_by_key(|route| std::cmp::Reverse(route.prefix.len()));
        for item in &items {
            let limited = match &item.grant {
                Grant::ApiPlan { limits, .. } => limits.meters.keys().collect::<Vec<_>>(),
                Grant::Membership { limits, .. } => limits.keys().collect(),
                _ => Vec::new(),
            };
            if let Some(unknown) = limited.into_iter().find(|meter| !known(meter)) {
                return Err(CatalogError::UnknownMeter(format!("SKU {}", item.sku), unknown.to_string()));
            }
        }
        let catalog = Self { items, by_lookup_key, meters, routes };
        if catalog.free_plan().is_none() {
            return Err(CatalogError::NoFreePlan);
        }
        Ok(catalog)
    }

    /// The declared meters, with `requests` first unless declared.
    fn meters_of(entries: Vec<MeterEntry>) -> Result<Vec<Meter>, CatalogError> {
        let mut meters: Vec<Meter> = Vec::new();
        for entry in entries {
            let meter = Meter::declared(entry.name, entry.display, entry.unit, entry.stripe_event_name);
            if meters.iter().any(|known| known.name == meter.name) {
                return Err(CatalogError::DuplicateMeter(meter.name.to_string()));
            }
            if meters.iter().any(|known| known.stripe_event_name == meter.stripe_event_name) {
                return Err(CatalogError::DuplicateEventName(meter.stripe_event_name));
            }
            meters.push(meter);
        }
        if !meters.iter().any(|meter| meter.name == MeterName::requests()) {
            let requests = Meter::requests();
            if meters.iter().any(|known| known.stripe_event_name == requests.stripe_event_name) {
                return Err(CatalogError::DuplicateEventName(requests.stripe_event_name));
            }
            meters.insert(0, requests);
        }
        Ok(meters)
    }

    /// Every meter, `requests` among them.
    pub fn meters(&self) -> &[Meter] {
        &self.meters
    }

    /// The catalog with `meter` reported to Stripe under `event_name` (a deployment's
    /// `STRIPE_METER_EVENT_NAME` for `requests`).
    pub fn with_event_name(mut self, meter: &MeterName, event_name: String) -> Self {
        if let Some(found) = self.meters.iter_mut().find(|known| &known.name == meter) {
            found.stripe_event_name = event_name;
        }
        self
    }

    /// The meter of that name.
    pub fn meter(&self, name: &MeterName) -> Option<&Meter> {
        self.meters.iter().find(|meter| &meter.name == name)
    }

    /// The currency balances are kept in: the free plan's.
    pub fn currency(&self) -> &Currency {
        &self.free_plan().expect("a parsed catalog has a free plan").currency
    }

    /// The routes, longest prefix first.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// What a call to `path` (under `/v1/`) costs: the longest route that covers it, else
    /// one `requests`.
    pub fn charge(&self, path: &str) -> meters::Charge<'_> {
        meters::charge(&self.routes, path)
    }

    /// The catalog shipped with tollgate.
    pub fn default_catalog() -> Self {
        Self::parse(DEFAULT_CATALOG).expect("the shipped catalog is valid (tested)")
    }

    /// Every SKU, in file order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The SKU a Stripe price `lookup_key` names.
    pub fn by_lookup_key(&self, lookup_key: &str) -> Option<&Item> {
        self.by_lookup_key.get(lookup_key).map(|&index| &self.items[index])
    }

    /// The entry for a SKU.
    pub fn by_sku(&self, sku: &Sku) -> Option<&Item> {
        self.items.iter().find(|item| &item.sku == sku)
    }

    /// The plan every account has until an API subscription is active.
    pub fn free_plan(&self) -> Option<&Item> {
        self.items.iter().find(|item| item.price_cents == 0 && matches!(item.grant, Grant::ApiPlan { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meters::Per;

    #[test]
    fn a_workflow_subscription_takes_its_params_schema_as_a_table_or_as_json() {
        let text = include_str!("../../../examples/catalogs/marketplace.toml");
        let catalog = Catalog::parse(text).unwrap();
        let strategy = catalog.by_sku(&Sku::parse("strategy_momentum").unwrap()).unwrap();
        let Grant::WorkflowSubscription { workflow, params_schema, schedule } = &strategy.grant else {
            panic!("{:?}", strategy.grant)
        };
        assert_eq!((workflow.as_str(), &params_schema["required"]), ("momentum", &serde_json::json!(["symbol"])));
        assert!(schedule.is_some());
        assert_eq!(strategy.partner_share().unwrap().basis_points, 4000, "the brief's 40% for a strategist");
        let copy = catalog.by_sku(&Sku::parse("strategy_copy").unwrap()).unwrap();
        let Grant::WorkflowSubscription { params_schema, schedule, .. } = &copy.grant else { panic!() };
        let expected = serde_json::json!({"type": "object", "required": ["account"],
            "properties": {"account": {"type": "string", "minLength": 1}}});
        assert_eq!((params_schema, schedule), (&expected, &None), "a TOML table, read as JSON");
        let broken = text.replace("params_schema = '{\"type\"", "params_schema = '{not json");
        assert!(matches!(Catalog::parse(&broken), Err(CatalogError::WorkflowSubscription { .. })));
        let one_off = text.replace("interval = \"month\"\nworkflow = \"copier\"", "workflow = \"copier\"");
        assert!(matches!(Catalog::parse(&one_off), Err(CatalogError::WorkflowSubscription { .. })));
    }

    #[test]
    fn the_shipped_catalog_holds_the_design_defaults() {
        let catalog = Catalog::default_catalog();
        assert_eq!(catalog.items().len(), 8);
        let pro = catalog.by_lookup_key("api_pro_monthly").unwrap();
        assert_eq!(pro.sku.as_str(), "api_pro");
        assert_eq!(pro.price_cents, 2999);
        let Grant::ApiPlan { tier, limits } = &pro.grant else { panic!("pro is an API plan") };
        assert_eq!(tier, "pro");
        let requests = limits.on(&MeterName::requests());
        assert_eq!((requests.quota, requests.per, requests.overage.as_str()), (Some(10_000), Per::Period, "bill"));
        assert_eq!(limits.max_keys, DEFAULT_MAX_KEYS);
        assert_eq!(pro.overage_lookup_key(&MeterName::requests()).unwrap(), "api_pro_monthly_requests_overage");
        assert_eq!(
            pro.billed_meters().map(|(meter, price)| (meter.as_str(), price.micros.0)).collect::<Vec<_>>(),
            [("requests", 4_000)]
        );
        let enterprise = catalog.by_lookup_key("api_enterprise_monthly").unwrap();
        assert!(matches!(&enterprise.grant, Grant::ApiPlan { limits, .. } if limits.meters.is_empty()));
        assert_eq!(
            catalog.meters().iter().map(|meter| meter.stripe_event_name.as_str()).collect::<Vec<_>>(),
            ["api_requests", "tollgate_generations"]
        );
        assert_eq!(limits.concurrent_runs, 3);
        let Grant::ApiPlan { limits: free, .. } = &catalog.free_plan().unwrap().grant else { panic!("an API plan") };
        assert_eq!(free.concurrent_runs, crate::customer_run::DEFAULT_CONCURRENT_RUNS);
        let generations = free.on(&MeterName::parse("generations").unwrap());
        assert_eq!((generations.quota, generations.per, generations.overage.as_str()), (Some(5), Per::Day, "block"));
        let elite = catalog.by_lookup_key("member_elite_monthly").unwrap();
        assert!(matches!(&elite.grant, Grant::Membership { tier, api_plan: Some(_), .. } if tier == "elite"));
        assert_eq!(catalog.by_lookup_key("credits_1000").unwrap().grant, Grant::Credits { credits: 1000 });
        assert_eq!(catalog.free_plan().unwrap().sku.as_str(), "api_free");
    }

    #[test]
    fn a_lookup_key_may_name_only_one_sku() {
        let text = DEFAULT_CATALOG.replace("lookup_key = \"member_pro_monthly\"", "lookup_key = \"api_pro_monthly\"");
        assert!(matches!(Catalog::parse(&text), Err(CatalogError::DuplicateLookupKey(_))));
    }

    #[test]
    fn a_partner_takes_seventy_percent_unless_the_entry_says_otherwise_and_never_over_all() {
        assert_eq!(Catalog::default_catalog().items().iter().filter_map(Item::partner_share).count(), 0);
        let named = DEFAULT_CATALOG.replace("sku = \"api_pro\"\n", "sku = \"api_pro\"\npartner = \"zoe\"\n");
        let share = Catalog::parse(&named).unwrap().by_sku(&Sku::parse("api_pro").unwrap()).unwrap().partner_share();
        assert_eq!(share, Some(PartnerShare { partner: AccountId::parse("zoe").unwrap(), basis_points: 7_000 }));
        let greedy = named.replace("partner = \"zoe\"\n", "partner = \"zoe\"\npartner_share_bp = 10001\n");
        assert!(matches!(Catalog::parse(&greedy), Err(CatalogError::PartnerShare(_))));
    }

    const PLAN: &str = "[[sku]]\nsku = \"free\"\nkind = \"api_plan\"\nname = \"Free\"\ntier = \"free\"\nprice_cents = 0\ncurrency = \"usd\"\nrequests_per_minute = 60\n";

    #[test]
    fn the_fields_before_meters_load_as_the_limit_on_requests() {
        let old = Catalog::parse(&format!("{PLAN}monthly_requests = 100\noverage = true\nmax_keys = 2\n")).unwrap();
        let Grant::ApiPlan { limits, .. } = &old.items()[0].grant else { unreachable!() };
        let requests = limits.on(&MeterName::requests());
        assert_eq!((requests.quota, requests.per), (Some(100), Per::Period));
        assert!(matches!(&requests.overage, Overage::Bill(price) if price.micros.0 == 0));
        assert_eq!(limits.max_keys, 2);
        let blocked = Catalog::parse(&format!("{PLAN}monthly_requests = 5\noverage = false\n")).unwrap();
        let Grant::ApiPlan { limits, .. } = &blocked.items()[0].grant else { unreachable!() };
        assert_eq!(limits.on(&MeterName::requests()).overage, Overage::Block);
        let both = format!("{PLAN}monthly_requests = 5\n[sku.limits.requests]\nquota = 5\n");
        assert!(matches!(Catalog::parse(&both), Err(CatalogError::TwoRequestLimits(_))));
    }

    #[test]
    fn routes_charge_meters_and_the_longest_prefix_wins() {
        let text = format!(
            "[[meter]]\nname = \"messages\"\ndisplay = \"Messages\"\nunit = \"message\"\n\
             [[meter]]\nname = \"ai_runs\"\ndisplay = \"AI runs\"\nunit = \"AI run\"\nstripe_event_name = \"agency_ai\"\n\
             [[route]]\nprefix = \"/v1/messages\"\nmeter = \"messages\"\ncost = 1\n\
             [[route]]\nprefix = \"/v1/messages/bulk/\"\nmeter = \"messages\"\ncost = 10\n\
             [[route]]\nprefix = \"/v1/agents\"\nmeter = \"ai_runs\"\ncost = 1\n{PLAN}\
             [sku.limits.messages]\nquota = 50\n"
        );
        let catalog = Catalog::parse(&text).unwrap();
        let charge = |path| {
            let charge = catalog.charge(path);
            (charge.meter.to_string(), charge.cost)
        };
        assert_eq!(charge("/v1/messages"), ("messages".into(), 1));
        assert_eq!(charge("/v1/messages/bulk/7"), ("messages".into(), 10));
        assert_eq!(charge("/v1/agents/run"), ("ai_runs".into(), 1));
        assert_eq!(charge("/v1/messagesx"), ("requests".into(), 1));
        assert_eq!(charge("/v1/anything"), ("requests".into(), 1));
        let names: Vec<_> = catalog.meters().iter().map(|m| (m.name.as_str(), m.stripe_event_name.as_str())).collect();
        assert_eq!(
            names,
            [("requests", "tollgate_requests"), ("messages", "tollgate_messages"), ("ai_runs", "agency_ai")]
        );

        let unknown = text.replace("meter = \"ai_runs\"", "meter = \"tokens\"");
        assert!(matches!(Catalog::parse(&unknown), Err(CatalogError::UnknownMeter(..))));
        let outside = text.replace("prefix = \"/v1/agents\"", "prefix = \"/api/agents\"");
        assert!(matches!(Catalog::parse(&outside), Err(CatalogError::Route(..))));
        let free_cost = text.replace("cost = 10", "cost = 0");
        assert!(Catalog::parse(&free_cost).is_err());
        let unknown_limit = format!("{PLAN}[sku.limits.tokens]\nquota = 1\n");
        assert!(matches!(Catalog::parse(&unknown_limit), Err(CatalogError::UnknownMeter(..))));
        let unpriced = format!("{PLAN}[sku.limits.requests]\nquota = 1\noverage = \"balance\"\n");
        assert!(matches!(Catalog::parse(&unpriced), Err(CatalogError::Limit { .. })));
    }

    #[test]
    fn a_balance_top_up_credits_a_positive_amount() {
        let top_up = "[[sku]]\nsku = \"balance_10\"\nlookup_key = \"balance_10\"\nkind = \"balance\"\nname = \"$10\"\nprice_cents = 1000\ncurrency = \"usd\"\n";
        let catalog = Catalog::parse(&format!("{PLAN}{top_up}amount_cents = 1000\n")).unwrap();
        assert_eq!(catalog.by_lookup_key("balance_10").unwrap().grant, Grant::Balance { amount_cents: 1000 });
        assert!(matches!(Catalog::parse(&format!("{PLAN}{top_up}amount_cents = 0\n")), Err(CatalogError::TopUp(_))));
    }

    /// A plan's SKU, price, and its quota, period, overage and unit price in micro-units on one meter.
    type PlanRow = (String, i64, Option<u64>, Per, &'static str, i64);

    /// Each plan's row on `meter`, in file order.
    fn plans_on(catalog: &Catalog, meter: &str) -> Vec<PlanRow> {
        let meter = MeterName::parse(meter).unwrap();
        catalog
            .items()
            .iter()
            .filter_map(|item| match &item.grant {
                Grant::ApiPlan { limits, .. } => {
                    let limit = limits.on(&meter);
                    let unit = match &limit.overage {
                        Overage::Bill(price) | Overage::Balance(price) => price.micros.0,
                        Overage::Block => 0,
                    };
                    Some((item.sku.to_string(), item.price_cents, limit.quota, limit.per, limit.overage.as_str(), unit))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_agency_catalog_holds_its_briefs_numbers() {
        let catalog = Catalog::parse(include_str!("../../../examples/catalogs/agency.toml")).unwrap();
        // $0.05 a message past the plan, from the balance: 50,000 micro-units.
        assert_eq!(
            plans_on(&catalog, "messages"),
            [
                ("gratis".into(), 0, Some(50), Per::Period, "balance", 50_000),
                ("starter".into(), 1500, Some(2000), Per::Period, "balance", 50_000),
                ("partner".into(), 19900, Some(50_000), Per::Period, "balance", 50_000),
            ]
        );
        assert_eq!(
            plans_on(&catalog, "ai_runs"),
            [
                ("gratis".into(), 0, Some(1), Per::Period, "block", 0),
                ("starter".into(), 1500, None, Per::Period, "block", 0),
                ("partner".into(), 19900, None, Per::Period, "block", 0),
            ]
        );
        let charge = catalog.charge("/v1/messages/send");
        assert_eq!((charge.meter.as_str(), charge.cost), ("messages", 1));
        assert_eq!(catalog.charge("/v1/agents/42/run").meter.as_str(), "ai_runs");
        assert_eq!(
            catalog.by_sku(&Sku::parse("balance_10").unwrap()).unwrap().grant,
            Grant::Balance { amount_cents: 1000 }
        );
    }

    #[test]
    fn the_music_catalog_holds_its_briefs_numbers() {
        let catalog = Catalog::parse(include_str!("../../../examples/catalogs/music.toml")).unwrap();
        assert_eq!(
            plans_on(&catalog, "generations"),
            [
                ("free".into(), 0, Some(3), Per::Day, "block", 0),
                ("creator".into(), 999, Some(50), Per::Period, "block", 0),
                ("pro".into(), 2999, Some(200), Per::Period, "block", 0),
                ("studio".into(), 9999, Some(1000), Per::Period, "block", 0),
            ]
        );
        assert_eq!(catalog.charge("/v1/generations").meter.as_str(), "generations");
        assert_eq!(catalog.free_plan().unwrap().sku.as_str(), "free");
    }

    #[test]
    fn unknown_kinds_and_bad_syntax_are_refused() {
        assert!(Catalog::parse("[[sku]]\nsku = \"x\"\nkind = \"spaceship\"").is_err());
        assert!(Catalog::parse("not toml [").is_err());
    }
}
