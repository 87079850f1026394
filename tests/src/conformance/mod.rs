//! One conformance suite for every adapter of every port. Each scenario is generic over
//! the port; [`conformance_suite!`] instantiates all of them for one backend.

pub mod accounts;
pub mod cursors;
pub mod customer_runs;
pub mod event_log;
pub mod first_keys;
pub mod intake;
pub mod ledger;
pub mod orchestration;
pub mod payees;
pub mod premium_choices;
pub mod probes;
pub mod purchases;
pub mod queue;
pub mod tallies;
pub mod usage;
pub mod webhook_endpoints;
pub mod workflow_subscriptions;

/// Receives before a store's queue dead-letters a message, for the suite.
pub const TEST_MAX_RECEIVES: u32 = 3;
/// How long a received message stays hidden in the suite's queues, in seconds.
pub const TEST_VISIBILITY_SECONDS: u32 = 1;

/// Expands to one `#[tokio::test]` per scenario, each on a fresh store from `$fresh`
/// (an async expression). The store's queue must dead-letter after
/// [`TEST_MAX_RECEIVES`] receives, and hide a received message for [`TEST_VISIBILITY_SECONDS`].
#[macro_export]
macro_rules! conformance_suite {
    ($fresh:expr) => {
        $crate::conformance_suite!(@tests $fresh;
            event_log::records_an_event_once,
            event_log::concurrent_deliveries_record_one_new,
            event_log::marks_status,
            event_log::lists_the_newest_first,
            intake::takes_a_new_event_in_with_its_message,
            intake::queues_a_recorded_event_again_until_it_is_final,
            intake::concurrent_deliveries_take_one_in,
            queue::delivers_what_was_sent_until_acknowledged,
            queue::redelivers_what_was_not_acknowledged,
            queue::dead_letters_after_the_last_receive,
            queue::keeps_each_queue_to_itself,
            queue::a_transient_failure_comes_back_after_its_backoff,
            queue::a_permanent_failure_is_dead_lettered_at_once,
            accounts::links_the_first_customer_and_referrer,
            accounts::lists_whom_an_account_referred,
            accounts::concurrent_links_keep_one_customer,
            accounts::applies_only_newer_subscription_events,
            accounts::sets_status_only_on_known_subscriptions,
            ledger::posts_each_entry_once,
            ledger::running_totals_only_grow,
            ledger::lists_the_money_that_came_in_since_a_time,
            ledger::concurrent_posts_of_one_entry_land_once,
            orchestration::registers_once_and_reads_back,
            orchestration::lists_only_idle_enabled_due_workflows,
            orchestration::ends_a_run_once_and_counts_it,
            orchestration::counts_failures_in_a_row,
            orchestration::finds_overdue_and_recent_runs,
            orchestration::raises_each_incident_once_newest_first,
            orchestration::an_alert_moves_from_open_to_acknowledged_to_resolved_once,
            orchestration::counts_active_subscriptions,
            purchases::records_a_purchase_once_and_tracks_its_delivery,
            purchases::a_refund_revokes_what_its_payment_bought,
            usage::finds_keys_by_hash_and_lists_them_by_account,
            usage::revokes_only_the_owners_key_once,
            usage::keys_stop_at_the_limit_even_when_made_at_once,
            usage::a_batch_delivered_twice_counts_once,
            usage::a_refund_takes_back_at_most_what_is_left_once,
            cursors::a_cursor_only_moves_forward,
            payees::links_one_payee_and_records_only_newer_reports,
            payees::lists_payees_enabled_and_keeps_their_last_failed_payout,
            probes::a_probe_record_is_written_over_only_as_it_was_read,
            tallies::counts_each_member_once_a_day_and_once_across_days,
            webhook_endpoints::an_account_has_one_endpoint_replaced_with_its_secret_and_removed_once,
            premium_choices::a_choice_is_replaced_whole_and_reads_back_in_order,
            workflow_subscriptions::params_are_kept_and_an_instance_is_made_once_and_found_due,
            customer_runs::a_run_is_charged_with_its_storing_and_given_back_once_when_cancelled,
            customer_runs::slots_go_round_robin_and_an_unearned_charge_comes_back_at_the_end,
            customer_runs::an_ended_runs_overage_reads_back_to_be_billed,
            customer_runs::a_delivery_is_recorded_once_and_taken_by_one_sender_at_a_time,
        );
        $crate::conformance_suite!(@shared $fresh;
            orchestration::concurrent_claims_of_one_workflow_start_it_once,
            orchestration::concurrent_claims_hold_both_caps,
            purchases::concurrent_requests_never_pass_the_rate_limit,
            usage::concurrent_batches_of_many_keys_add_up_exactly,
            usage::meter_units_and_the_balance_spent_add_up_exactly_once,
            cursors::concurrent_advances_keep_the_latest,
            customer_runs::with_r_units_left_n_parallel_runs_get_exactly_r,
            first_keys::a_first_key_is_taken_once_whoever_asks_at_once,
            workflow_subscriptions::of_concurrent_changes_over_one_version_one_lands,
            payees::concurrent_links_keep_one_payee,
            probes::concurrent_probes_of_one_read_count_once,
            tallies::concurrent_tallies_count_each_member_once,
        );
    };
    (@shared $fresh:expr; $($module:ident :: $scenario:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                let store = std::sync::Arc::new($fresh.await);
                $crate::conformance::$module::$scenario(&store).await;
            }
        )+
    };
    (@tests $fresh:expr; $($module:ident :: $scenario:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $scenario() {
                let store = $fresh.await;
                $crate::conformance::$module::$scenario(&store).await;
            }
        )+
    };
}
