//! The table of live handles.
//!
//! Applications get an opaque number, never a pointer into our memory: it encodes a slot
//! index, the slot's generation and the handle kind. A stale, freed, forged or wrong-kind
//! handle fails the lookup and is answered with SQL_INVALID_HANDLE without anything
//! being dereferenced.

use std::sync::{Arc, RwLock};

use crate::conn::Connection;
use crate::desc::Descriptor;
use crate::diag::DiagArea;
use crate::env::Environment;
use crate::stmt::Statement;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    Environment = 0,
    Connection = 1,
    Statement = 2,
    Descriptor = 3,
}

/// A live object behind a handle.
#[derive(Clone)]
pub enum Object {
    Environment(Arc<Environment>),
    Connection(Arc<Connection>),
    Statement(Arc<Statement>),
    Descriptor(Arc<Descriptor>),
}

impl Object {
    pub fn kind(&self) -> HandleKind {
        match self {
            Object::Environment(_) => HandleKind::Environment,
            Object::Connection(_) => HandleKind::Connection,
            Object::Statement(_) => HandleKind::Statement,
            Object::Descriptor(_) => HandleKind::Descriptor,
        }
    }

    pub fn diagnostics(&self) -> &DiagArea {
        match self {
            Object::Environment(o) => o.diagnostics(),
            Object::Connection(o) => o.diagnostics(),
            Object::Statement(o) => o.diagnostics(),
            Object::Descriptor(o) => o.diagnostics(),
        }
    }
}

/// Implemented by the four handle types so lookups are typed.
pub trait HandleObject: Sized {
    const KIND: HandleKind;
    fn from_object(object: &Object) -> Option<Arc<Self>>;
    fn into_object(this: Arc<Self>) -> Object;
    fn diagnostics(&self) -> &DiagArea;
}

macro_rules! handle_object {
    ($ty:ty, $variant:ident) => {
        impl HandleObject for $ty {
            const KIND: HandleKind = HandleKind::$variant;
            fn from_object(object: &Object) -> Option<Arc<Self>> {
                match object {
                    Object::$variant(o) => Some(Arc::clone(o)),
                    _ => None,
                }
            }
            fn into_object(this: Arc<Self>) -> Object {
                Object::$variant(this)
            }
            fn diagnostics(&self) -> &DiagArea {
                &self.diagnostics
            }
        }
    };
}

handle_object!(Environment, Environment);
handle_object!(Connection, Connection);
handle_object!(Statement, Statement);
handle_object!(Descriptor, Descriptor);

/// The raw value an application holds. Never zero.
pub type RawHandle = usize;

struct Slot {
    generation: u32,
    object: Option<Object>,
}

/// Slots with generation counters; freed slots are reused with a new generation, so an
/// old handle value never reaches the new object.
#[derive(Default)]
pub struct HandleTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl HandleTable {
    /// An empty table (`const`, so the process-wide one needs no lazy initialisation on
    /// every lookup).
    pub const fn new() -> Self {
        HandleTable { slots: Vec::new(), free: Vec::new() }
    }
}

#[cfg(target_pointer_width = "64")]
const INDEX_BITS: u32 = 30;
#[cfg(not(target_pointer_width = "64"))]
const INDEX_BITS: u32 = 20;
const KIND_BITS: u32 = 2;
const GENERATION_BITS: u32 = usize::BITS - INDEX_BITS - KIND_BITS;

fn encode(index: u32, generation: u32, kind: HandleKind) -> RawHandle {
    let generation = (generation as usize) & ((1usize << GENERATION_BITS) - 1);
    (generation << (INDEX_BITS + KIND_BITS)) | (((index + 1) as usize) << KIND_BITS) | kind as usize
}

fn decode(raw: RawHandle) -> Option<(usize, u32, usize)> {
    let kind = raw & ((1 << KIND_BITS) - 1);
    let index = (raw >> KIND_BITS) & ((1 << INDEX_BITS) - 1);
    let generation = (raw >> (INDEX_BITS + KIND_BITS)) as u32;
    index.checked_sub(1).map(|i| (i, generation, kind))
}

impl HandleTable {
    pub fn insert(&mut self, object: Object) -> Option<RawHandle> {
        let kind = object.kind();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok().filter(|&i| i < (1 << INDEX_BITS) - 1)?;
                self.slots.push(Slot { generation: 0, object: None });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1) & ((1 << GENERATION_BITS.min(31)) - 1);
        slot.object = Some(object);
        Some(encode(index, slot.generation, kind))
    }

    pub fn get<T: HandleObject>(&self, raw: RawHandle) -> Option<Arc<T>> {
        self.slot(raw, T::KIND).and_then(|o| T::from_object(o))
    }

    /// Any live object, whatever its kind (SQLGetDiagRec takes a handle type separately).
    pub fn get_any(&self, raw: RawHandle) -> Option<Object> {
        let (index, _, _) = decode(raw)?;
        let object = self.slots.get(index)?.object.as_ref()?;
        self.slot(raw, object.kind()).cloned()
    }

    pub fn remove<T: HandleObject>(&mut self, raw: RawHandle) -> Option<Arc<T>> {
        let object = T::from_object(self.slot(raw, T::KIND)?)?;
        let (index, _, _) = decode(raw)?;
        self.slots[index].object = None;
        self.free.push(index as u32);
        Some(object)
    }

    fn slot(&self, raw: RawHandle, kind: HandleKind) -> Option<&Object> {
        let (index, generation, raw_kind) = decode(raw)?;
        if raw_kind != kind as usize {
            return None;
        }
        let slot = self.slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.object.as_ref().filter(|o| o.kind() == kind)
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The process-wide table the FFI layer uses.
pub static HANDLES: RwLock<HandleTable> = RwLock::new(HandleTable::new());

/// Registers an object and returns its handle value. `None` when the table is full.
pub fn register<T: HandleObject>(object: Arc<T>) -> Option<RawHandle> {
    HANDLES.write().unwrap_or_else(|e| e.into_inner()).insert(T::into_object(object))
}

pub fn lookup<T: HandleObject>(raw: RawHandle) -> Option<Arc<T>> {
    HANDLES.read().unwrap_or_else(|e| e.into_inner()).get(raw)
}

pub fn lookup_any(raw: RawHandle) -> Option<Object> {
    HANDLES.read().unwrap_or_else(|e| e.into_inner()).get_any(raw)
}

pub fn unregister<T: HandleObject>(raw: RawHandle) -> Option<Arc<T>> {
    HANDLES.write().unwrap_or_else(|e| e.into_inner()).remove(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_handle_is_refused_even_after_its_slot_is_reused() {
        let mut t = HandleTable::default();
        let a = t.insert(Object::Environment(Arc::new(Environment::new()))).unwrap();
        assert!(t.get::<Environment>(a).is_some());
        assert!(t.remove::<Environment>(a).is_some());
        assert!(t.get::<Environment>(a).is_none());
        assert!(t.remove::<Environment>(a).is_none(), "double free is refused");
        let b = t.insert(Object::Environment(Arc::new(Environment::new()))).unwrap();
        assert_ne!(a, b);
        assert!(t.get::<Environment>(a).is_none());
        assert!(t.get::<Environment>(b).is_some());
    }

    #[test]
    fn a_handle_of_the_wrong_kind_or_a_forged_value_is_refused() {
        let mut t = HandleTable::default();
        let env = t.insert(Object::Environment(Arc::new(Environment::new()))).unwrap();
        assert!(t.get::<Connection>(env).is_none());
        for forged in [0usize, 1, 4, 0xdead_beef, usize::MAX, env + 4, env ^ (1 << 40)] {
            assert!(t.get::<Environment>(forged).is_none() || forged == env, "{forged:#x}");
            assert!(t.get_any(forged).is_none() || forged == env);
        }
    }
}
