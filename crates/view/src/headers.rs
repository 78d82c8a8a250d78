//! The header fields a reader sees: addresses, date, threading ids.

use mail_parser::{Addr, Address, HeaderValue, Message};

/// One address of From, To, Cc or Reply-To. Group syntax is flattened:
/// the group's members are listed, its name is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name (RFC 2047 decoded), when there is one.
    pub name: Option<String>,
    /// The address as written (`local@domain`).
    pub address: String,
}

/// The mailboxes of an address header; entries without an address are left
/// out.
pub(crate) fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    match address {
        None => Vec::new(),
        Some(Address::List(list)) => list.iter().filter_map(mailbox).collect(),
        Some(Address::Group(groups)) => groups.iter().flat_map(|g| &g.addresses).filter_map(mailbox).collect(),
    }
}

fn mailbox(addr: &Addr<'_>) -> Option<Mailbox> {
    let address = addr.address.as_deref()?.trim();
    if address.is_empty() {
        return None;
    }
    let name = addr.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    Some(Mailbox { name, address: address.to_owned() })
}

/// The Date header as Unix seconds, when it is a valid date.
pub(crate) fn date(message: &Message<'_>) -> Option<i64> {
    message.date().filter(|d| d.is_valid()).map(|d| d.to_timestamp())
}

/// The ids of References, then those of In-Reply-To not already there:
/// what a thread is built from.
pub(crate) fn references(message: &Message<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in ids_of(message.references()).chain(ids_of(message.in_reply_to())) {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        if !id.is_empty() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    ids
}

fn ids_of<'v>(value: &'v HeaderValue<'_>) -> Box<dyn Iterator<Item = &'v str> + 'v> {
    match value {
        HeaderValue::Text(id) => Box::new(std::iter::once(id.as_ref())),
        HeaderValue::TextList(ids) => Box::new(ids.iter().map(AsRef::as_ref)),
        _ => Box::new(std::iter::empty()),
    }
}
