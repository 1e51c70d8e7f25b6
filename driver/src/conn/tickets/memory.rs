//! The Memory store: this process's tickets, in a process-wide map (the connections of a
//! pool may live in different environment handles). Gone when the process ends.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::{StoredTicket, TicketStore, Warnings};
use crate::conn::sitting::SittingKey;

pub struct MemoryStore;

fn map() -> MutexGuard<'static, HashMap<SittingKey, StoredTicket>> {
    static MAP: OnceLock<Mutex<HashMap<SittingKey, StoredTicket>>> = OnceLock::new();
    MAP.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner())
}

impl TicketStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn load(&self, key: &SittingKey, _: &mut Warnings) -> Option<StoredTicket> {
        map().get(key).cloned()
    }

    fn save(&self, ticket: &StoredTicket, _: &mut Warnings) {
        map().insert(ticket.key.clone(), ticket.clone());
    }

    fn evict(&self, key: &SittingKey, _: &mut Warnings) {
        map().remove(key);
    }
}
