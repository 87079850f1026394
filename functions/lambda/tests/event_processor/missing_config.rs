//! A deployed function without its configuration refuses to start, naming what is missing.

#[test]
fn it_refuses_to_start_and_names_the_missing_setting() {
    tollgate_tests::assert_refuses_to_start_without(
        env!("CARGO_BIN_EXE_event-processor"),
        &[("STRIPE_WEBHOOK_SECRET", "whsec_irrelevant_here")],
        "EVENT_LOG_TABLE",
    );
}
