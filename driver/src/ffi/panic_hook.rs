//! A panic inside the driver is a bug, caught at the boundary and reported as HY000; its
//! message goes to the driver's log, never to the host's stderr (which belongs to the
//! application: isql's output, a cron job's mail). The hook is installed once per
//! process and chains to the one it found, so panics of the host itself still print as
//! the host expects.

use std::cell::Cell;
use std::sync::Once;

thread_local! {
    /// How deep this thread is inside driver code (exports nest: the driver manager may
    /// call back into the driver from inside a call).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                log::error!("internal error (a driver bug): {info}");
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `body` as driver code: a panic in it is logged, not printed.
pub(crate) fn in_driver<R>(body: impl FnOnce() -> R) -> R {
    install();
    /// Leaves the driver when dropped, on return or unwind alike.
    struct Leave<'a>(&'a Cell<u32>);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.set(self.0.get().saturating_sub(1));
        }
    }
    // One thread-local access per call (in a shared library each costs a call to
    // `__tls_get_addr`), its cell kept for the way out.
    DEPTH.with(|depth| {
        depth.set(depth.get().saturating_add(1));
        let _leave = Leave(depth);
        body()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_driver_code_is_caught_and_nesting_is_undone() {
        let caught = std::panic::catch_unwind(|| in_driver(|| panic!("a driver bug")));
        assert!(caught.is_err());
        assert_eq!(DEPTH.with(Cell::get), 0, "left the driver on unwind");
        assert_eq!(in_driver(|| in_driver(|| DEPTH.with(Cell::get))), 2);
    }
}
