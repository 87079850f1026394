//! The local stack's composition root: every use case over the one SQLite store, built once
//! from the settings, and the routers of webhook-ingest, account-api and checkout over them,
//! as the Lambda builders (`shared/lambda/src/functions.rs`) build them in the cloud.

use crate::config::DevConfig;
use std::sync::Arc;
use tollgate_app::activity::Activity;
use tollgate_app::alerting::AlertDesk;
use tollgate_app::checkout::Checkout;
use tollgate_app::endpoints::Endpoints;
use tollgate_app::fulfillment::Fulfiller;
use tollgate_app::ingest::Ingest;
use tollgate_app::instances::Instances;
use tollgate_app::keys::{EdgeLink, Keys};
use tollgate_app::metrics::Figures;
use tollgate_app::monitor::Monitor;
use tollgate_app::orchestrator::Orchestrator;
use tollgate_app::payouts::{Onboarding, PayoutRun, Payouts};
use tollgate_app::ports::meter_events::MeterEvents;
use tollgate_app::ports::outbound::Outbound;
use tollgate_app::ports::run_metrics::LoggedMetrics;
use tollgate_app::ports::stripe_time::StripeTime;
use tollgate_app::premium::Premium;
use tollgate_app::process::Processor;
use tollgate_app::reads::Reads;
use tollgate_app::reconcile::Reconciler;
use tollgate_app::renewals::Renewals;
use tollgate_app::replay::Replay;
use tollgate_app::sales::Sales;
use tollgate_app::usage_meter::UsageMeter;
use tollgate_app::{Clock, SystemClock};
use tollgate_core::money::Micros;
use tollgate_embedded::Sqlite;
use tollgate_http::buyer::{self, Buyers, Offer};
use tollgate_http::customer_runs::{self, Customers};
use tollgate_http::{
    Auth, admin, jwt, live, openapi, pages, stripe_history, webhooks, workflow_subscriptions, workflows,
};
use tollgate_http::{endpoints as endpoint_routes, keys as key_routes, payouts as payout_routes};
use tollgate_settings::SettingError;
use tollgate_stripe::StripeApi;

/// The use cases that take Stripe's calls: there only when the stack has a Stripe.
pub(crate) struct Paid {
    checkout: Checkout<Sqlite>,
    onboarding: Onboarding<Sqlite>,
    pub reconciler: Reconciler<Sqlite>,
    replay: Replay<Sqlite>,
    pub payout_run: PayoutRun<Sqlite>,
}

/// Every use case of the local stack.
pub(crate) struct UseCases {
    pub ingest: Ingest<Sqlite>,
    pub processor: Arc<Processor<Sqlite>>,
    pub keys: Arc<Keys<Sqlite>>,
    pub reads: Arc<Reads<Sqlite>>,
    pub premium: Arc<Premium<Sqlite>>,
    pub activity: Arc<Activity<Sqlite>>,
    pub figures: Figures<Sqlite>,
    pub orchestrator: Arc<Orchestrator<Sqlite>>,
    pub usage_meter: Arc<UsageMeter<Sqlite>>,
    pub fulfiller: Arc<Fulfiller<Sqlite>>,
    pub payouts: Payouts<Sqlite>,
    pub monitor: Arc<Monitor<Sqlite>>,
    pub endpoints: Arc<Endpoints<Sqlite>>,
    pub sales: Arc<Sales<Sqlite>>,
    pub instances: Arc<Instances<Sqlite>>,
    /// How often the monitor checks (`HEALTH_CHECK_INTERVAL_SECONDS`).
    pub health_interval: std::time::Duration,
    pub paid: Option<Paid>,
}

impl UseCases {
    /// Over `store`, with the settings of a stack whose links start with `public`.
    pub fn build(
        config: &DevConfig,
        public: &str,
        store: &Sqlite,
        stripe: Option<&Arc<StripeApi>>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let settings = config.at(public);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let catalog = &config.catalog;
        let outbound: Arc<dyn Outbound> = Arc::new(tollgate_outbound::HttpClient::new()?);
        let alerting = config.alerting(Arc::clone(&outbound));
        let retry = settings.read(tollgate_settings::retry)?;
        let orchestration = settings.read(tollgate_settings::orchestration)?;
        let health = settings.read(|env| tollgate_settings::health_checks(env, &orchestration.callback_base))?;
        let edge = EdgeLink {
            secret: config.edge.secret.clone(),
            url: config.edge.url.clone(),
            outbound: Arc::clone(&outbound),
        };
        let paid = stripe
            .map(|stripe| -> Result<Paid, SettingError> {
                Ok(Paid {
                    checkout: Checkout {
                        store: store.clone(),
                        catalog: catalog.clone(),
                        clock: Arc::clone(&clock),
                        stripe: Arc::clone(stripe) as _,
                        settings: settings.read(tollgate_settings::checkout)?,
                    },
                    onboarding: Onboarding {
                        store: store.clone(),
                        connect: Arc::clone(stripe) as _,
                        settings: settings.read(tollgate_settings::payouts_return)?,
                    },
                    reconciler: Reconciler {
                        store: store.clone(),
                        clock: Arc::clone(&clock),
                        stripe: Arc::clone(stripe) as _,
                        alerting: alerting.clone(),
                    },
                    replay: Replay { store: store.clone(), clock: Arc::clone(&clock), stripe: Arc::clone(stripe) as _ },
                    payout_run: PayoutRun {
                        store: store.clone(),
                        clock: Arc::clone(&clock),
                        transfers: Arc::clone(stripe) as _,
                        policy: config.payout_policy,
                        alerting: alerting.clone(),
                    },
                })
            })
            .transpose()?;
        let orchestrator = Arc::new(Orchestrator {
            store: store.clone(),
            clock: Arc::clone(&clock),
            settings: orchestration.clone(),
            outbound: Arc::clone(&outbound),
            // Locally an endpoint may be on loopback: deliveries go as starts do.
            deliveries: Arc::clone(&outbound),
            metrics: Arc::new(LoggedMetrics),
            alerting: alerting.clone(),
            revenue_checked: Default::default(),
        });
        // Locally an endpoint may be plain http on loopback, and names are not resolved.
        let endpoints = Arc::new(Endpoints {
            store: store.clone(),
            clock: Arc::clone(&clock),
            resolver: Arc::new(tollgate_outbound::SystemResolver),
            local: true,
        });
        let sales = Arc::new(Sales {
            orchestrator: Arc::clone(&orchestrator),
            catalog: catalog.clone(),
            zone: orchestrator.settings.zone,
            endpoints: Arc::clone(&endpoints),
            schemas: Default::default(),
        });
        let keys = Arc::new(Keys {
            store: store.clone(),
            catalog: catalog.clone(),
            zone: orchestration.zone,
            clock: Arc::clone(&clock),
            edge: Arc::new(edge),
        });
        Ok(Self {
            ingest: Ingest { store: store.clone(), clock: Arc::clone(&clock), webhooks: config.webhooks.clone() },
            processor: Arc::new(Processor {
                store: store.clone(),
                catalog: catalog.clone(),
                retry,
                zone: orchestration.zone,
                keys: Arc::clone(&keys),
                revoke_keys_on_cancel: settings.read(tollgate_settings::revoke_keys_on_cancel)?,
            }),
            keys,
            reads: Arc::new(Reads { store: store.clone(), catalog: catalog.clone() }),
            premium: Arc::new(Premium { store: store.clone(), catalog: catalog.clone(), clock: Arc::clone(&clock) }),
            activity: Arc::new(Activity { store: store.clone(), clock: Arc::clone(&clock) }),
            figures: Figures {
                store: store.clone(),
                catalog: catalog.clone(),
                clock: Arc::clone(&clock),
                caps: orchestration.caps,
                zone: orchestration.zone,
            },
            fulfiller: Arc::new(Fulfiller {
                store: store.clone(),
                catalog: catalog.clone(),
                clock: Arc::clone(&clock),
                outbound: Arc::clone(&outbound),
                secret: orchestration.secret.clone(),
                retry: orchestration.retry,
            }),
            usage_meter: Arc::new(UsageMeter {
                store: store.clone(),
                catalog: catalog.clone(),
                zone: orchestration.zone,
                clock: Arc::clone(&clock),
                retry,
                stripe: stripe.map(|stripe| Arc::clone(stripe) as Arc<dyn MeterEvents>),
                alerting: alerting.clone(),
                low_balance: Micros::from_minor(
                    settings.read(tollgate_settings::low_balance_cents)?,
                    catalog.currency(),
                ),
            }),
            monitor: Arc::new(Monitor {
                store: store.clone(),
                outbound: Arc::clone(&outbound),
                alerting: alerting.clone(),
                clock: Arc::clone(&clock),
                urls: health.urls,
            }),
            health_interval: health.interval,
            endpoints,
            orchestrator,
            instances: Arc::new(Instances { sales: Arc::clone(&sales) }),
            sales,
            payouts: Payouts { store: store.clone(), clock, policy: config.payout_policy },
            paid,
        })
    }

    /// The routes of webhook-ingest, account-api and checkout together; the activity stream
    /// too (one long-running process), and renewals on demand with the emulated Stripe.
    pub async fn routers(
        self,
        config: &DevConfig,
        stripe_time: Option<Arc<dyn StripeTime>>,
    ) -> Result<Vec<axum::Router>, jwt::SettingsError> {
        let clock = Arc::clone(&self.orchestrator.clock);
        let auth = Arc::new(Auth { verifier: jwt::Verifier::new(config.jwt.clone()).await?, clock });
        let offer = Offer { sells: self.paid.is_some(), pays_out: true, renews_on_demand: stripe_time.is_some() };
        let desk = AlertDesk {
            store: self.figures.store.clone(),
            alerting: self.orchestrator.alerting.clone(),
            clock: Arc::clone(&self.orchestrator.clock),
        };
        let figures = Arc::new(self.figures);
        let operator = admin::Operator {
            reads: Arc::clone(&self.reads),
            keys: Arc::clone(&self.keys),
            figures: Arc::clone(&figures),
            desk: Arc::new(desk),
        };
        let mut routers = vec![
            webhooks::stripe_router(Arc::new(self.ingest)),
            webhooks::callback_router(Arc::clone(&self.orchestrator)),
            admin::router(Arc::clone(&auth), operator),
            buyer::router(Arc::clone(&auth), Buyers { reads: self.reads, premium: self.premium, offer }),
            live::router(Arc::clone(&auth), Arc::clone(&self.activity)),
            live::stream_router(Arc::clone(&auth), self.activity, figures),
            workflows::router(Arc::clone(&auth), self.orchestrator),
            customer_runs::router(Arc::clone(&auth), Customers { sales: self.sales, edge: config.edge.secret.clone() }),
            workflow_subscriptions::router(Arc::clone(&auth), self.instances),
            endpoint_routes::router(Arc::clone(&auth), Arc::clone(&self.endpoints)),
            key_routes::owner_router(Arc::clone(&auth), Arc::clone(&self.keys)),
            key_routes::edge_router(self.keys),
            // A partner's standing is read from the ledger, Stripe or not; onboarding needs Stripe.
            payout_routes::standing_router(Arc::clone(&auth), self.payouts),
            pages::router(),
        ];
        if let Some(stripe_time) = stripe_time {
            routers.push(admin::renewal_router(Arc::clone(&auth), Renewals { stripe_time }));
        }
        let document = match self.paid {
            Some(paid) => {
                let document = openapi::served(&config.catalog, paid.checkout.settings.redirects.origins());
                let history = stripe_history::StripeHistory { reconciler: paid.reconciler, replay: paid.replay };
                routers.extend([
                    buyer::checkout_router(Arc::clone(&auth), paid.checkout),
                    payout_routes::onboarding_router(Arc::clone(&auth), paid.onboarding),
                    stripe_history::router(Arc::clone(&auth), history),
                    payout_routes::run_router(auth, paid.payout_run),
                ]);
                document
            }
            None => openapi::document(),
        };
        routers.push(openapi::router(document));
        Ok(routers)
    }
}
