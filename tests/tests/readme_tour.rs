//! The README's tour with no Stripe account, run as written (its shell block, with the
//! stack's own address for `127.0.0.1:8080`) against `tollgate dev` on its emulated Stripe.

use std::process::Command;
use tollgate_tests::emulated::Emulated;
use tollgate_tests::stack::{JWT_SECRET, binary};

const HEADING: &str = "### Sell, renew, refund and pay out, with no Stripe account";

/// The first `sh` block under `heading`.
fn tour_under(heading: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find(heading).expect("the tour's heading")..];
    let start = section.find("```sh\n").expect("a shell block") + "```sh\n".len();
    let end = start + section[start..].find("```").expect("the block's end");
    section[start..end].to_owned()
}

#[tokio::test]
async fn the_readme_tour_sells_renews_refunds_and_pays_out_as_written() {
    let emulated = Emulated::start(&[]).await;
    let stack = &emulated.stack;
    let address = stack.base_url.trim_start_matches("http://").to_owned();
    let script = tour_under(HEADING).replace("127.0.0.1:8080", &address);
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

const ENDPOINT_HEADING: &str = "### An endpoint goes down, and comes back";

/// The README's endpoint tour run as written: its own `tollgate dev` and upstream on free
/// ports (for `127.0.0.1:8080` and `:9000`), in a fresh data directory.
#[tokio::test]
async fn the_readme_endpoint_tour_opens_an_alert_when_the_upstream_stops_and_resolves_it_when_it_is_back() {
    let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (stack_port, upstream_port) = (free_port(), free_port());
    let data_dir = tempfile::tempdir().unwrap();
    let served = tempfile::tempdir().unwrap();
    let script = tour_under(ENDPOINT_HEADING)
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{stack_port}"))
        .replace("9000", &upstream_port.to_string())
        .replace("/tmp/tollgate-upstream", &served.path().display().to_string());
    let bin_dir = binary().parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let data = data_dir.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        use std::os::unix::process::CommandExt;
        let child = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("PATH", path)
            .env("TOLLGATE_ADDR", format!("127.0.0.1:{stack_port}"))
            .env("TOLLGATE_DATA_DIR", data)
            .env_remove("STRIPE_SECRET_KEY")
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = child.id();
        let output = child.wait_with_output().unwrap();
        // Whatever the script left running (it failed half-way) goes with it.
        let _ = Command::new("kill").args(["-TERM", "--", &format!("-{group}")]).status();
        output
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the tour failed:\n{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    let upstream = format!("http://127.0.0.1:{upstream_port}/health");
    let expected = format!(
        "endpoint_down open {upstream}\nendpoint_down resolved {upstream}\nendpoint_recovered resolved {upstream}\n"
    );
    assert_eq!(printed, expected);
}
