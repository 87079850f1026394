//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    tollgate_tests::assert_orchestration_function_refuses_to_start(env!("CARGO_BIN_EXE_orchestrator"));
}
