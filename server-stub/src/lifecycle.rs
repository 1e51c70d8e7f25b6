//! Where a server is in its life: serving, then (after SIGTERM or SIGINT) draining, then
//! refusing new connections, then closing what is left. Every part that behaves
//! differently at each stage (the readiness check, the accept loop, sessions) watches the
//! one channel here, so the stages cannot disagree.

use tokio::sync::watch;

/// The stages, in the only order they can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Serving,
    /// Readiness fails so balancers take the instance out; everything else as before
    /// (`server.drain_grace_secs`).
    Draining,
    /// The listener is closed; sessions end at their next idle moment (not inside a
    /// request, transaction or cursor); logins in progress are ended.
    Refusing,
    /// `server.drain_timeout_secs` is over (or no drain was asked for): every session is
    /// closed now, its statement interrupted and its transaction rolled back.
    Closing,
}

pub(crate) struct Lifecycle {
    stage: watch::Sender<Stage>,
    /// `true` at [`Stage::Closing`]: what each connection's reads select on.
    closing: watch::Sender<bool>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Lifecycle { stage: watch::Sender::new(Stage::Serving), closing: watch::Sender::new(false) }
    }

    pub fn stage(&self) -> Stage {
        *self.stage.borrow()
    }

    /// Moves on to `to`, never back.
    pub fn advance(&self, to: Stage) {
        let moved = self.stage.send_if_modified(|s| {
            let later = to > *s;
            if later {
                *s = to;
            }
            later
        });
        if moved && to == Stage::Closing {
            let _ = self.closing.send(true);
        }
    }

    /// A receiver that sees `true` when sessions must close at once.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Resolves once the stage `at` (or a later one) is reached.
    pub async fn reached(&self, at: Stage) {
        let mut rx = self.stage.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = rx.wait_for(|s| *s >= at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stages_only_move_forward_and_closing_is_signalled_once_reached() {
        let life = Lifecycle::new();
        let closing = life.closing();
        life.advance(Stage::Refusing);
        life.advance(Stage::Draining);
        assert_eq!(life.stage(), Stage::Refusing);
        assert!(!*closing.borrow());
        life.reached(Stage::Draining).await;
        life.advance(Stage::Closing);
        assert!(*closing.borrow());
        life.reached(Stage::Closing).await;
    }
}
