//! The README's tour with no Stripe account, run as written (its shell block, with the
//! stack's own address for `127.0.0.1:8080`) against `tollgate dev` on its emulated Stripe.

use std::process::Command;
use tollgate_tests::emulated::Emulated;
use tollgate_tests::stack::{JWT_SECRET, binary};

const HEADING: &str = "### Sell, renew, refund and pay out, with no Stripe account";

/// The first `sh` block under the tour's heading.
fn tour() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find(HEADING).expect("the tour's heading")..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = start + section[start..].find("```").expect("the block's end");
    section[start..end].to_owned()
}

#[tokio::test]
async fn the_readme_tour_sells_renews_refunds_and_pays_out_as_written() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let address = stack.base_url.trim_start_matches("http://").to_owned();
    let script = tour().replace("127.0.0.1:8080", &address);
    let bin_dir = binary().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let data_dir = stack.data_dir().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("PATH", path)
            .env("TOLLGATE_ADDR", &address)
            .env("TOLLGATE_DATA_DIR", data_dir)
            .env("TOLLGATE_STRIPE", "emulated")
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the tour failed:\n{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        format!("303 {}/checkout/success", stack.base_url),
        "\"plan\":\"pro\"".to_owned(),
        "renewed 2 subscription(s), 2 new invoice(s)".to_owned(),
        "refunded 500 of pi_".to_owned(),
        "\"available\":1099".to_owned(),
        "paid user_demo 1099 usd tr_".to_owned(),
        "skipped user_demo: already_paid".to_owned(),
    ] {
        assert!(printed.contains(&expected), "the tour did not print {expected}:\n{printed}");
    }
}
