//! The test suite's Stripe stand-in on its own, for trying Connect onboarding and payouts
//! by hand without a Stripe account (README, "Paying partners"). It keeps everything in
//! memory and accepts only the key it prints.

use tollgate_tests::fake_stripe::{FakeStripe, SECRET_KEY};

#[tokio::main]
async fn main() {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:12111".to_owned());
    let stripe = FakeStripe::start_on(&address).await;
    println!("Stripe stand-in at {}; STRIPE_SECRET_KEY={SECRET_KEY}", stripe.base_url);
    std::future::pending::<()>().await;
}
