//! The notifier's record of event deliveries: for each kept event and each webhook it is
//! meant for, whether it was delivered, is still being tried, or was given up.
//!
//! The record lives in the replicated state so that a new leader carries on with the
//! same attempts and backoff, and so that `tern ctl notify events` shows what really
//! happened. It is bounded by the events kept (`EVENTS_KEEP`): the record of an event
//! goes when the event does.

use crate::{DeliveryRecord, DeliveryState, State};

impl State {
    /// Records tries. A record for an event no longer (or not yet) kept is ignored; a
    /// delivery that reached an end does not go back to pending, and attempts never go
    /// down, so a record applied twice or late changes nothing.
    pub(crate) fn record_deliveries(&mut self, records: &[DeliveryRecord]) {
        let oldest = self.events.front().map_or(u64::MAX, |event| event.seq);
        let newest = self.events.back().map_or(0, |event| event.seq);
        for record in records {
            if record.seq < oldest || record.seq > newest {
                continue;
            }
            let hooks = self.deliveries.entry(record.seq).or_default();
            match hooks.get(&record.hook) {
                Some(known)
                    if known.state != DeliveryState::Pending
                        || known.attempts > record.delivery.attempts => {}
                _ => {
                    hooks.insert(record.hook.clone(), record.delivery.clone());
                }
            }
        }
        self.forget_deliveries();
    }

    /// Drops the records of events no longer kept.
    pub(crate) fn forget_deliveries(&mut self) {
        let oldest = self.events.front().map_or(u64::MAX, |event| event.seq);
        self.deliveries = self.deliveries.split_off(&oldest);
    }
}
