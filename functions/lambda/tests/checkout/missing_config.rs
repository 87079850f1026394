//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    let binary = env!("CARGO_BIN_EXE_checkout");
    tollgate_tests::assert_refuses_to_start_without(binary, &[], "JWT_SECRET");
    tollgate_tests::assert_refuses_to_start_without(
        binary,
        &[("JWT_SECRET", "a-jwt-secret-of-at-least-32-bytes")],
        "ACCOUNTS_TABLE",
    );
    let mut given = tollgate_tests::LAMBDA_RESOURCES.to_vec();
    given.extend([("AWS_REGION", "us-east-1"), ("JWT_SECRET", "a-jwt-secret-of-at-least-32-bytes")]);
    tollgate_tests::assert_refuses_to_start_without(binary, &given, "STRIPE_SECRET_KEY");
    given.push(("STRIPE_SECRET_KEY", "sk_test_x"));
    tollgate_tests::assert_refuses_to_start_without(binary, &given, "CHECKOUT_SUCCESS_URL");
}

#[test]
fn an_unreachable_key_set_refuses_to_start_naming_it() {
    tollgate_tests::assert_refuses_to_start_saying(
        env!("CARGO_BIN_EXE_checkout"),
        &[("JWT_JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")],
        "JWT_JWKS_URL",
    );
}
