//! The tests that need a PostgreSQL server (`tests/postgres.rs`) are compiled as ignored,
//! with the reason, unless `SEMARIZE_TEST_POSTGRES_URL` names one: a developer without a
//! server sees them skipped in cargo's summary instead of an `ok` that ran nothing. Under
//! `CI=true` they always run (and fail without a server, since `.ci/run` starts one).
//! Nothing here changes the command itself.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(semarize_test_postgres)");
    let set = |name: &str| {
        println!("cargo::rerun-if-env-changed={name}");
        std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "false")
    };
    if set("SEMARIZE_TEST_POSTGRES_URL") || set("CI") {
        println!("cargo::rustc-cfg=semarize_test_postgres");
    }
}
