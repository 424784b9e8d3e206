//! The REST API. Every route is registered through utoipa-axum's `routes!`, which takes
//! its path, method and schema from the handler's `#[utoipa::path]`: a route cannot exist
//! without being documented, and the document cannot list a route that does not exist.

pub(crate) mod access;
pub(crate) mod assignments;
pub(crate) mod audit;
pub(crate) mod auth;
pub mod bodies;
pub(crate) mod health;
pub(crate) mod invitations;
pub(crate) mod inviting;
pub(crate) mod me;
pub(crate) mod members;
pub(crate) mod orgs;
pub(crate) mod sso;
pub(crate) mod tasks;
pub(crate) mod tokens;

use crate::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roster API",
        description = "Accounts, organizations, members and invitations. Errors are \
                       application/problem+json with a stable `code`.",
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Security),
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("roster_session"))),
        );
    }
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(orgs::get_org, orgs::update_org))
        .routes(routes!(me::me, me::update_me))
        .routes(routes!(me::sign_out))
        .routes(routes!(me::change_password))
        .routes(routes!(me::change_email))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::end_session))
        .routes(routes!(auth::sign_in))
        .routes(routes!(auth::request_reset))
        .routes(routes!(auth::confirm_reset))
        .routes(routes!(auth::confirm_email_change))
        .routes(routes!(members::send_reset_link))
        .routes(routes!(members::sign_in_attempts))
        .routes(routes!(members::deactivate))
        .routes(routes!(members::activate))
        .routes(routes!(members::get, members::edit, members::remove))
        .routes(routes!(inviting::invite))
        .routes(routes!(inviting::resend))
        .routes(routes!(inviting::cancel))
        .routes(routes!(members::list))
        .routes(routes!(members::set_roles))
        .routes(routes!(assignments::set_groups))
        .routes(routes!(assignments::set_customers))
        .routes(routes!(assignments::set_entity))
        .routes(routes!(assignments::set_admin_scope))
        .routes(routes!(access::permissions))
        .routes(routes!(access::member_permissions))
        .routes(routes!(access::list_roles, access::create_role))
        .routes(routes!(
            access::get_role,
            access::update_role,
            access::delete_role
        ))
        .routes(routes!(access::list_groups, access::create_group))
        .routes(routes!(
            access::get_group,
            access::update_group,
            access::delete_group
        ))
        .routes(routes!(access::list_customers, access::create_customer))
        .routes(routes!(
            access::get_customer,
            access::update_customer,
            access::delete_customer
        ))
        .routes(routes!(access::list_entities, access::create_entity))
        .routes(routes!(
            access::get_entity,
            access::update_entity,
            access::delete_entity
        ))
        .routes(routes!(access::check))
        .routes(routes!(access::explain))
        .routes(routes!(tasks::list_tasks, tasks::create_task))
        .routes(routes!(tasks::get_task, tasks::update_task))
        .routes(routes!(tasks::task_categories))
        .routes(routes!(tasks::get_notifications, tasks::set_notifications))
        .routes(routes!(audit::audit_log))
        .routes(routes!(sso::get_sso, sso::put_sso, sso::delete_sso))
        .routes(routes!(sso::test_sso))
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(invitations::describe))
        .routes(routes!(invitations::accept))
}
