//! The documented limits of request values that the spec states as schema keywords
//! (`minLength`, `maxLength`, `format: uuid`) and the generated types leave out: checked
//! here, before anything is sent, so a mistake is a clear error instead of a 4xx.

/// A Kit code: 8 characters, as the API reference documents.
pub(crate) fn check_kit_code(kit_code: &str) -> Result<(), String> {
    match kit_code.chars().count() {
        8 => Ok(()),
        n => Err(format!("a Kit code has 8 characters; {kit_code:?} has {n}")),
    }
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
