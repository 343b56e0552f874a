//! The documented limits of request values that the spec states as schema keywords
//! (`minLength`, `maxLength`, `minimum`, `maximum`, `format: uuid`) and the generated types
//! leave out: read from the spec's operations table and checked here, before anything is
//! sent, so a mistake is a clear error instead of a 4xx.

use semarize_api::operations::{self, Limits};

/// A Kit code: as long as the spec's `kit_code` field says (8 characters).
pub(crate) fn check_kit_code(kit_code: &str) -> Result<(), String> {
    let limits = operations::CREATE_RUN
        .field("kit_code")
        .map(|field| field.limits)
        .unwrap_or_default();
    check_length("a Kit code", kit_code, &limits)
}

/// `value`'s length in characters against a schema's `minLength` and `maxLength`.
pub(crate) fn check_length(what: &str, value: &str, limits: &Limits) -> Result<(), String> {
    let expected = match (limits.min_length, limits.max_length) {
        (None, None) => return Ok(()),
        (Some(min), Some(max)) if min == max => format!("{min}"),
        (Some(min), Some(max)) => format!("{min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
    };
    let n = value.chars().count() as u64;
    let fits = limits.min_length.is_none_or(|min| n >= min)
        && limits.max_length.is_none_or(|max| n <= max);
    match fits {
        true => Ok(()),
        false => Err(format!(
            "{what} has {expected} characters; {value:?} has {n}"
        )),
    }
}

/// A number against a schema's `minimum` and `maximum`.
pub(crate) fn check_range(what: &str, value: f64, limits: &Limits) -> Result<(), String> {
    let fits = limits.minimum.is_none_or(|min| value >= min)
        && limits.maximum.is_none_or(|max| value <= max);
    if fits {
        return Ok(());
    }
    let bound = |b: Option<f64>| b.map_or_else(|| "any".to_owned(), |b| b.to_string());
    Err(format!(
        "{what} must be from {} to {}, not {value}",
        bound(limits.minimum),
        bound(limits.maximum)
    ))
}

/// A Kit id or Kit version id: a UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, any case).
pub(crate) fn check_uuid(what: &str, value: &str) -> Result<(), String> {
    let groups: Vec<&str> = value.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    match shaped {
        true => Ok(()),
        false => Err(format!("a {what} is a UUID; {value:?} is not one")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_come_from_the_table() {
        let limit = operations::LIST_RUNS.parameter("limit").unwrap().limits;
        assert!(check_range("limit", 100.0, &limit).is_ok());
        assert_eq!(
            check_range("limit", 0.0, &limit).unwrap_err(),
            "limit must be from 1 to 100, not 0"
        );
    }

    #[test]
    fn kit_codes_have_eight_characters() {
        assert!(check_kit_code("A1B2C3D4").is_ok());
        assert!(check_kit_code("A1B2C3D").unwrap_err().contains("has 7"));
        assert!(check_kit_code("A1B2C3D45").is_err());
    }

    #[test]
    fn uuids_are_five_hex_groups() {
        assert!(check_uuid("Kit id", "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40001").is_ok());
        assert!(check_uuid("Kit id", "0F8E5A52-7C1D-4E8A-9B1A-A1B2C3D40001").is_ok());
        for bad in [
            "",
            "uuid",
            "0f8e5a527c1d4e8a9b1aa1b2c3d40001",
            "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d4000g",
            "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d400011",
        ] {
            assert!(check_uuid("Kit id", bad).is_err(), "{bad:?}");
        }
    }
}
