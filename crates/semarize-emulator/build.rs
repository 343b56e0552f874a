//! The browser test of the inspector page is compiled as ignored, with the reason, unless
//! a browser is configured (`SEMARIZE_TEST_BROWSER`) or this is CI (`CI=true`, where
//! `.ci/run` installs Chromium): a developer without one sees it skipped in cargo's
//! summary instead of an `ok` that ran nothing. Nothing here changes the library itself.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(semarize_test_browser)");
    let set = |name: &str| {
        println!("cargo::rerun-if-env-changed={name}");
        std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "false")
    };
    if set("SEMARIZE_TEST_BROWSER") || set("CI") {
        println!("cargo::rustc-cfg=semarize_test_browser");
    }
}
