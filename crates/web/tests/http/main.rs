//! HTTP tests of roster-web: one test binary, driving a real server over loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod api;
mod auth;
mod console;
mod console_profile;
mod console_settings;
mod digests;
mod inviting;
mod matrix;
mod members;
mod oidc;
mod pages;
mod recovery;
mod sign_in_pages;
mod sso;
mod support;
