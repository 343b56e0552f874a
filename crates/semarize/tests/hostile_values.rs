//! Property tests: arbitrary server-controlled values through every parser and every
//! piece of delay arithmetic. Nothing may panic, every delay stays bounded, and text
//! printed from the server stays printable and short. (Run briefly on every test run;
//! raise PROPTEST_CASES for a longer fuzzing session.)

use std::time::Duration;

use proptest::prelude::*;
use semarize::runtime::{Clock, Sleeper, SystemClock, VirtualTime};
use semarize::webhooks::{Verifier, parse_signature_header};
use semarize::{Backoff, RetryPolicy, parse_retry_after};

fn durations() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::MAX),
        Just(Duration::ZERO),
        any::<u64>().prop_map(Duration::from_secs),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn retry_after_parsing_never_panics(value in ".{0,80}", digits in "[0-9]{1,40}") {
        let now = SystemClock.now_utc();
        let _ = parse_retry_after(&value, now);
        prop_assert!(parse_retry_after(&digits, now).is_some(), "all digits is a delay");
    }

    #[test]
    fn delays_saturate_instead_of_overflowing(
        advised in durations(),
        retry in any::<u32>(),
        fraction in any::<f64>(),
        base in durations(),
        cap in durations(),
    ) {
        let policy = RetryPolicy::default().base_delay(base).max_delay(cap);
        let delay = policy.delay(retry, fraction, Some(advised));
        prop_assert!(delay >= advised);
        let backoff = Backoff::new(base, cap);
        prop_assert!(backoff.full_jitter(retry, fraction) <= backoff.ceiling(retry));
    }

    #[test]
    fn virtual_time_absorbs_any_sleep(sleeps in proptest::collection::vec(durations(), 1..5)) {
        let time = VirtualTime::new();
        for sleep in sleeps {
            drop(time.sleep(sleep));
        }
        let _ = semarize::runtime::Clock::now(&time);
        let _ = semarize::runtime::Clock::now_utc(&time);
    }

    #[test]
    fn webhook_headers_and_bodies_never_panic(
        signature in ".{0,200}",
        timestamp in prop_oneof![".{0,24}".boxed(), any::<i64>().prop_map(|t| t.to_string()).boxed()],
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = parse_signature_header(&signature);
        let verifier = Verifier::new(["whsec_property"]).unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(value) = signature.parse() {
            headers.insert("semarize-signature", value);
        }
        if let Ok(value) = timestamp.parse() {
            headers.insert("semarize-timestamp", value);
        }
        let _ = verifier.verify(&headers, &body);
        let _ = verifier.verify_signature(&timestamp, &signature, &body);
    }

    #[test]
    fn error_bodies_decode_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<semarize::types::ErrorEnvelope>(&body);
    }

    #[test]
    fn printed_server_text_is_printable_and_bounded(text in "\\PC{0,40}|.{0,40}|[\\x00-\\x1f\\x7f-\\u{9f}]{0,40}", max in 0usize..60) {
        let shown = semarize::text::printable(&text, max);
        prop_assert!(shown.chars().count() <= max);
        prop_assert!(!shown.chars().any(char::is_control));
    }
}
