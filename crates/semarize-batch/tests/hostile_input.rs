//! Input lines are hostile too: any line either parses into a record whose id is not a
//! reserved one, or is refused with a reason.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn input_lines_parse_or_say_why(line in ".{0,120}") {
        match semarize_batch::parse_line(&line) {
            Ok((id, _)) => prop_assert!(!id.starts_with(semarize_batch::RESERVED_ID_PREFIX)),
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }
}
