//! The vendor registry: every helpdesk vendor the gateway speaks, one line each. A
//! vendor's crate parses its own `[dialects.NAME]` and `[upstreams.X] kind = "NAME"`
//! tables and builds its own faces (see `ticketgate_model::Vendor`).

use ticketgate_model::{ConsumerKey, Vendor};

/// Every vendor, in the order their names are listed in configuration errors.
pub static VENDORS: &[&dyn Vendor] = &[
    &ticketgate_osticket::vendor::VENDOR,
    &ticketgate_itsmng::vendor::VENDOR,
    &ticketgate_ticketsapi::vendor::VENDOR,
    &ticketgate_rt::vendor::VENDOR,
];

/// The vendor called `name`.
pub fn vendor(name: &str) -> Option<&'static dyn Vendor> {
    VENDORS.iter().copied().find(|v| v.name() == name)
}

/// The canonical API's consumer key, `Authorization: Bearer …`: the gateway's own
/// dialect, so a field of `ConsumerConfig` rather than a vendor's declaration.
pub const BEARER_KEY: ConsumerKey = ConsumerKey::token("bearer_key");

/// Every `[[consumers]]` key the vendors declare, in the registry's order.
pub fn consumer_keys() -> impl Iterator<Item = ConsumerKey> {
    VENDORS
        .iter()
        .flat_map(|v| v.consumer_keys().iter().copied())
}

/// The vendor key called `name`.
pub fn consumer_key(name: &str) -> Option<ConsumerKey> {
    consumer_keys().find(|k| k.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_consumer_key_is_declared_once_and_is_no_field_of_the_gateway() {
        let mut seen = std::collections::HashSet::new();
        for key in consumer_keys() {
            assert!(seen.insert(key.name), "{} declared twice", key.name);
            assert!(
                !crate::config::CONSUMER_FIELDS.contains(&key.name),
                "{} is a field of every consumer",
                key.name
            );
        }
        assert!(crate::config::CONSUMER_FIELDS.contains(&BEARER_KEY.name));
    }
}
