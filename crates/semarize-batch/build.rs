//! The tests that need a PostgreSQL server are compiled as ignored, with the reason,
//! unless one is configured: a developer without one sees them skipped in cargo's summary
//! instead of an `ok` that ran nothing. Under `CI=true` they always run (and fail without a
//! server, since `.ci/run` starts one). Nothing here changes the library itself.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let set = |name: &str| {
        println!("cargo::rerun-if-env-changed={name}");
        std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "false")
    };
    let ci = set("CI");
    for (variable, cfg) in [
        ("SEMARIZE_TEST_POSTGRES_URL", "semarize_test_postgres"),
        (
            "SEMARIZE_TEST_POSTGRES_PLAINTEXT_URL",
            "semarize_test_postgres_plaintext",
        ),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if set(variable) || ci {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
