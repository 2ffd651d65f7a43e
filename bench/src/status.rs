//! SMPP `command_status` values by their spec names (`ESME_RTHROTTLED`), for reports and
//! flags: counts keyed by name read better than `0x00000058`, and an operator writes
//! `--permanent-error-status ESME_RINVDSTADR`.

use tern_smpp::CommandStatus;

/// Statuses are looked up by name among the codes up to this one (SMPP 5.0 ends at 0x112).
const LAST_NAMED: u32 = 0x0000_0120;

/// The spec name of `status` (`ESME_ROK`, `ESME_RINVDSTADR`), or `0x%08X` for a code the
/// spec does not name.
pub fn name(status: CommandStatus) -> String {
    match status {
        CommandStatus::Other(code) => format!("0x{code:08X}"),
        // rusmpp names its variants after the spec: `EsmeRinvdstadr` is ESME_RINVDSTADR.
        known => {
            let debug = format!("{known:?}");
            match debug.strip_prefix("Esme") {
                Some(rest) => format!("ESME_{}", rest.to_ascii_uppercase()),
                None => debug.to_ascii_uppercase(),
            }
        }
    }
}

/// The name of a raw status code.
pub fn name_of(code: u32) -> String {
    name(CommandStatus::from(code))
}

/// A status from its spec name (any case, `ESME_` optional) or its code (`0x58`, `88`).
pub fn parse(text: &str) -> Result<CommandStatus, String> {
    let text = text.trim();
    let code = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else {
        text.parse::<u32>().ok()
    };
    if let Some(code) = code {
        return Ok(CommandStatus::from(code));
    }
    let upper = text.to_ascii_uppercase();
    let wanted = if upper.starts_with("ESME_") {
        upper
    } else {
        format!("ESME_{upper}")
    };
    (0..=LAST_NAMED)
        .map(CommandStatus::from)
        .find(|status| !matches!(status, CommandStatus::Other(_)) && name(*status) == wanted)
        .ok_or_else(|| format!("{text:?} is not an SMPP command_status name or code"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(name(CommandStatus::EsmeRok), "ESME_ROK");
        assert_eq!(name(CommandStatus::EsmeRthrottled), "ESME_RTHROTTLED");
        assert_eq!(name(CommandStatus::EsmeRinvdstadr), "ESME_RINVDSTADR");
        assert_eq!(name_of(0x0000_0400), "0x00000400");
    }

    #[test]
    fn statuses_parse_by_name_or_code() {
        assert_eq!(parse("ESME_RINVDSTADR"), Ok(CommandStatus::EsmeRinvdstadr));
        assert_eq!(parse("rthrottled"), Ok(CommandStatus::EsmeRthrottled));
        assert_eq!(parse("0x58"), Ok(CommandStatus::EsmeRthrottled));
        assert_eq!(parse("8"), Ok(CommandStatus::EsmeRsyserr));
        assert!(parse("ESME_RNOPE").is_err());
    }
}
