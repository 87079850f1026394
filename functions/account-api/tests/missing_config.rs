//! A deployed function without its configuration refuses to start, naming what is missing.

use std::process::Command;

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_account-api"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs([("STRIPE_WEBHOOK_SECRET", "whsec_irrelevant_here")])
        .output()
        .expect("the function binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_SECRET is not set"), "{stderr}");
}
