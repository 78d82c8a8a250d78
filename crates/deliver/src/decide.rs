//! The method decision (R-DL-1, R-DL-2, R-CL-3), as a pure function.
//! OpenPGP and S/MIME recipients come next; until then "encrypted" means
//! verified TLS or the portal.

use sealpost_core::config::PolicyMode;

/// How a recipient's copy travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Over TLS whose certificate verified for the MX name.
    Tls,
    /// Over TLS that did not verify, or without TLS: only PHI-free mail.
    Opportunistic,
    /// Held for the secure portal; a PHI-free notification was sent.
    Portal,
    /// Encrypted to the recipient's OpenPGP key (PGP/MIME); any channel.
    Pgp,
    /// Encrypted to the recipient's S/MIME certificate; any channel.
    Smime,
}

impl Method {
    /// Storage and event spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Tls => "tls",
            Method::Opportunistic => "opportunistic",
            Method::Portal => "portal",
            Method::Pgp => "pgp",
            Method::Smime => "smime",
        }
    }
}

/// What to do with one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Hold for the portal now; the reason is recorded.
    Portal(&'static str),
    /// Connect to the MX hosts. With `verified_only`, send only over a
    /// connection whose TLS verified; if none does, `otherwise` applies.
    Send {
        /// Only a verified TLS connection may carry the message.
        verified_only: bool,
        /// What happens when no verified connection could be made.
        otherwise: Otherwise,
    },
}

/// The fallback when verified TLS is required but not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Otherwise {
    /// Hold for the portal (tls-preferred).
    Portal,
    /// Fail without sending and tell the sender (tls-exclusive).
    Fail,
}

/// Decides for one recipient. `sensitive` is "PHI found, or the scan was
/// cut short"; `notice` marks Sealpost's own PHI-free notices, which are
/// never held for the portal.
pub fn plan(mode: PolicyMode, sensitive: bool, notice: bool, portal_domain: bool) -> Plan {
    if notice {
        return Plan::Send { verified_only: false, otherwise: Otherwise::Fail };
    }
    match mode {
        PolicyMode::PortalAlways => Plan::Portal("policy-portal-always"),
        PolicyMode::EncryptAlways => Plan::Portal("policy-encrypt-always"),
        _ if portal_domain => Plan::Portal("portal-domain"),
        PolicyMode::TlsExclusive => Plan::Send { verified_only: true, otherwise: Otherwise::Fail },
        PolicyMode::TlsPreferred if sensitive => Plan::Send { verified_only: true, otherwise: Otherwise::Portal },
        PolicyMode::TlsPreferred => Plan::Send { verified_only: false, otherwise: Otherwise::Portal },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phi_never_goes_without_verified_tls() {
        for mode in
            [PolicyMode::TlsPreferred, PolicyMode::TlsExclusive, PolicyMode::PortalAlways, PolicyMode::EncryptAlways]
        {
            for portal_domain in [false, true] {
                match plan(mode, true, false, portal_domain) {
                    Plan::Portal(_) => {}
                    Plan::Send { verified_only, .. } => assert!(verified_only, "{mode:?} {portal_domain}"),
                }
            }
        }
    }

    #[test]
    fn each_mode_decides_as_documented() {
        use Otherwise::*;
        assert_eq!(
            plan(PolicyMode::TlsPreferred, true, false, false),
            Plan::Send { verified_only: true, otherwise: Portal }
        );
        assert_eq!(
            plan(PolicyMode::TlsPreferred, false, false, false),
            Plan::Send { verified_only: false, otherwise: Portal }
        );
        assert_eq!(
            plan(PolicyMode::TlsExclusive, false, false, false),
            Plan::Send { verified_only: true, otherwise: Fail }
        );
        assert_eq!(plan(PolicyMode::PortalAlways, false, false, false), Plan::Portal("policy-portal-always"));
        assert_eq!(plan(PolicyMode::EncryptAlways, false, false, false), Plan::Portal("policy-encrypt-always"));
        assert_eq!(plan(PolicyMode::TlsPreferred, true, false, true), Plan::Portal("portal-domain"));
        assert_eq!(
            plan(PolicyMode::PortalAlways, true, true, true),
            Plan::Send { verified_only: false, otherwise: Fail }
        );
    }
}
