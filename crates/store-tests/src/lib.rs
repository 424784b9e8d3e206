//! The one conformance suite every [`Store`] backend runs.
//!
//! A backend's test file calls [`conformance_suite!`] with a function that makes a fresh,
//! migrated store; the macro expands to one `#[tokio::test]` per case, so a failure names
//! the case and the backend. Cases exercise the store through its trait only, so what
//! passes here holds for every backend.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod cases;
pub mod failing;
pub mod fixtures;

use roster_core::store::Store;
use std::sync::Arc;

/// A fresh store for one test, plus whatever keeps it alive (a temp directory, a database
/// to drop).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn Send + Sync>,
}

impl TestStore {
    pub fn new(store: Arc<dyn Store>, guard: impl Send + Sync + 'static) -> Self {
        Self {
            store,
            _guard: Box::new(guard),
        }
    }
}

/// Expands to one test per conformance case. `$make` is an async function returning
/// `Option<TestStore>`; `None` means the backend is unavailable and allowed to be (the
/// function must have said so loudly).
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@cases $make;
            orgs_create_and_read,
            org_slug_is_unique,
            org_update_changes_name_and_settings_only,
            orgs_list_in_pages_with_total,
            identity_email_is_unique_case_insensitive,
            identity_password_and_verification,
            memberships_hold_roles_and_move_by_compare_and_set,
            one_live_membership_per_identity_and_org,
            a_transaction_reads_its_writes_and_fails_whole,
            members_list_in_pages_without_removed,
            invitations_are_found_by_token_hash_and_used_once,
            concurrent_invitation_consumes_let_exactly_one_win,
            sessions_and_api_tokens_are_found_by_hash,
            audit_appends_and_filters,
            outbox_enqueue_claim_and_finish,
            outbox_results_need_the_current_lease,
            released_outbox_messages_are_due_at_once,
            concurrent_outbox_claims_never_overlap,
            tenant_isolation,
            dropped_transaction_leaves_nothing,
            use_case_failure_leaves_no_partial_rows,
            setup_writes_every_row_in_one_transaction,
            setup_grants_access_to_an_identity_that_can_sign_in,
            concurrent_accepts_let_exactly_one_in,
            concurrent_settings_changes_are_all_kept,
            concurrent_first_accepts_of_one_person_set_one_password,
            concurrent_writers_all_commit,
            readiness_after_migration,
            identity_tokens_are_found_by_hash_and_purpose,
            identity_tokens_are_used_once,
            identity_tokens_refuse_expired_and_revoked,
            revoking_identity_tokens_spares_other_people_purposes_and_used_links,
            latest_identity_token_is_the_newest_of_its_purpose,
            concurrent_identity_token_consumes_let_exactly_one_win,
            throttle_counts_restarts_releases_and_clears,
            concurrent_throttle_hits_are_all_counted,
            sign_in_attempts_list_newest_first_per_identity,
            sessions_of_identity_and_revoking_all_but_one,
            api_tokens_keep_creator_permissions_and_last_use,
            api_tokens_are_listed_and_revoked_per_organization,
            revoking_the_tokens_a_person_created,
            identity_email_changes_keep_addresses_unique,
            identity_profile_updates,
            membership_roles_are_replaced_within_their_organization,
            identity_for_update_serialises_read_modify_writes,
            count_active_admins_counts_only_active_admins_of_the_organization,
            concurrent_last_admin_changes_keep_an_admin,
            member_removal_is_one_transaction,
            members_are_searched_and_filtered,
            a_search_finds_the_same_members_however_many_match_elsewhere,
            member_counts_and_search_index_follow_every_change,
            filtered_member_counts_stop_at_the_cap,
            invitations_of_a_membership_are_found_and_revoked,
            last_sign_in_is_the_newest_success,
            custom_roles_are_kept_per_organization,
            access_sources_are_what_a_membership_refers_to,
            member_access_is_the_three_reads_together,
            org_for_update_with_access_is_the_two_reads_together,
            token_check_is_the_token_and_the_member_together,
            access_version_moves_with_every_change_to_roles_and_groups,
            access_definitions_are_the_whole_organization_at_its_version,
            the_definitions_cache_keeps_only_committed_definitions,
            membership_links_round_trip_and_stay_in_their_organization,
            removed_members_count_for_nothing_and_deletes_take_their_links,
            groups_customers_and_entities_are_listed_and_updated,
            members_are_filtered_by_group_entity_customer_and_scope,
            scoped_admins_are_not_counted_as_admins_of_the_organization,
            memberships_come_with_their_organizations,
            tasks_are_kept_per_organization_listed_and_closed,
            notification_settings_round_trip_and_clear_the_digest_plan,
            digest_tasks_follow_categories_customers_and_assignees,
            digest_records_are_unique_per_membership_and_period,
            concurrent_digest_records_let_exactly_one_win,
            a_failed_digest_is_rolled_back_and_tried_again,
            sso_connections_round_trip_and_are_found_by_their_domains,
            an_address_reads_with_its_domain_s_connection,
            replacing_an_sso_connection_replaces_its_fields_and_domains,
            a_domain_claimed_by_one_organization_is_refused_to_another,
            concurrent_claims_of_one_domain_let_exactly_one_win,
            deleting_an_sso_connection_frees_its_domains,
            sso_subjects_are_linked_per_organization_and_issuer,
            relinking_an_sso_subject_replaces_its_identity,
            sso_logins_are_taken_once,
            expired_sso_logins_are_refused_and_pruned,
            concurrent_sso_login_takes_let_exactly_one_win,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(test_store) = $make().await else { return };
                $crate::cases::$case(test_store.store.clone()).await;
            }
        )*
    };
}
