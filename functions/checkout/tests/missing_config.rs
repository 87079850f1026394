//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    let binary = env!("CARGO_BIN_EXE_checkout");
    tollgate_tests::assert_refuses_to_start_without(binary, &[], "JWT_SECRET");
    tollgate_tests::assert_refuses_to_start_without(binary, &[("JWT_SECRET", "a-jwt-secret")], "EVENT_LOG_TABLE");
}
