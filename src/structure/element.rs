//! Element symbols to atomic numbers.

/// Atomic number of an element symbol (case-insensitive, e.g. `CL`, `Cl`), or `None`.
/// Dummy atoms and lone pairs (`Du`, `LP`, `*`) are not elements.
pub fn atomic_number(symbol: &str) -> Option<u32> {
    let s = symbol.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("du") || s.eq_ignore_ascii_case("lp") {
        return None;
    }
    let mut chars = s.chars();
    let first = chars.next()?.to_ascii_uppercase();
    let rest: String = chars.map(|c| c.to_ascii_lowercase()).collect();
    let canonical = format!("{first}{rest}");
    pdbtbx::Element::from_symbol(canonical).map(|e| e.atomic_number() as u32)
}

/// Whether an atomic number is hydrogen (H, D and T all parse to 1).
pub fn is_hydrogen(z: u32) -> bool {
    z == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_in_any_case() {
        assert_eq!(atomic_number("C"), Some(6));
        assert_eq!(atomic_number("CL"), Some(17));
        assert_eq!(atomic_number("cl"), Some(17));
        assert_eq!(atomic_number(" Br "), Some(35));
        assert_eq!(atomic_number("Du"), None);
        assert_eq!(atomic_number("Xx"), None);
        assert_eq!(atomic_number(""), None);
    }
}
