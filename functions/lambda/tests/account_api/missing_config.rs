//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    tollgate_tests::assert_refuses_to_start_without(
        env!("CARGO_BIN_EXE_account-api"),
        &[("STRIPE_WEBHOOK_SECRET", "whsec_irrelevant_here")],
        "JWT_SECRET",
    );
    let mut given = tollgate_tests::LAMBDA_RESOURCES.to_vec();
    given.extend([
        ("AWS_REGION", "us-east-1"),
        ("JWT_SECRET", "a-jwt-secret-of-at-least-32-bytes"),
        ("WORKFLOW_SECRET", "w"),
        ("CALLBACK_BASE_URL", "https://hooks.example.com"),
    ]);
    tollgate_tests::assert_refuses_to_start_without(env!("CARGO_BIN_EXE_account-api"), &given, "EDGE_SECRET");
}

#[test]
fn a_short_jwt_secret_refuses_to_start_naming_it() {
    tollgate_tests::assert_refuses_to_start_saying(
        env!("CARGO_BIN_EXE_account-api"),
        &[("JWT_SECRET", "only-31-bytes-long-secret-value")],
        "JWT_SECRET must be at least 32 bytes",
    );
}
