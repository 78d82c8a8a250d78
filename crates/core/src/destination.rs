//! Where outbound requests may go (issue 13.10). The address classes and
//! the allow-list live in [`sealpost_outbound::destination`], because
//! delivery's HTTPS fetches (MTA-STS policies, WKD keys) apply them too;
//! they are re-exported here for the webhook client
//! (`sealpost_webhooks::GuardedResolver`, which does the reqwest side), the
//! MX check in delivery and the configuration.

pub use sealpost_outbound::destination::{AllowList, Class, Refused, classify};
