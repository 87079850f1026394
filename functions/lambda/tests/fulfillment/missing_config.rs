//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    let binary = env!("CARGO_BIN_EXE_fulfillment");
    tollgate_tests::assert_refuses_to_start_without(binary, &[], "ACCOUNTS_TABLE");
    let mut given = tollgate_tests::LAMBDA_RESOURCES.to_vec();
    given.push(("AWS_REGION", "us-east-1"));
    tollgate_tests::assert_refuses_to_start_without(binary, &given, "WORKFLOW_SECRET");
}
