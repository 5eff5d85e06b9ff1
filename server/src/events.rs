//! What happened, published through one interface: "a challenge was created for device D",
//! "sign-in L changed" (answered, cancelled, a PIN evaluated for it), "the enrolment of device
//! D changed". Handlers publish; how an event travels is the publisher's business — today
//! in-process wake-ups plus the push adapter, later PostgreSQL NOTIFY between nodes or a push
//! outbox — so that can change without touching a handler.
//!
//! Waiters (long-polls, live pages) sleep on [`crate::signals::Signals`] under the keys below
//! and always re-read the database: an event is a hint, never the state.

use latchkey_protocol::types::{ChallengeId, DeviceId};

use crate::push::Pusher;
use crate::signals::Signals;

/// Something waiters may want to know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A sign-in request was created for a device (push it; wake its long-poll).
    ChallengeCreated {
        /// The device asked.
        device: DeviceId,
        /// The request, as the push carries it (an opaque id, P4).
        challenge: ChallengeId,
    },
    /// A sign-in changed: answered, cancelled, replaced, or a PIN was evaluated for it.
    SigninChanged {
        /// The sign-in (login) id.
        login: String,
    },
    /// A device's enrolment changed (scanned, finished, cancelled).
    EnrolmentChanged {
        /// The device.
        device: DeviceId,
    },
}

/// The key a long-poll for `device`'s requests sleeps on.
pub fn device_key(device: &DeviceId) -> String {
    format!("device:{device}")
}

/// The key the "Approve on your device" page of `login` sleeps on.
pub fn signin_key(login: &str) -> String {
    format!("login:{login}")
}

/// The key the QR page of the enrolment of `device` sleeps on.
pub fn enrolment_key(device: &str) -> String {
    format!("enrol:{device}")
}

/// Publishes events; must not block (called inside request handlers).
pub trait Events: Send + Sync {
    /// Publishes one event.
    fn publish(&self, event: Event);
}

/// One node: wakes this process's waiters and hands challenges to the push adapter.
pub struct InProcess {
    signals: std::sync::Arc<Signals>,
    pusher: Box<dyn Pusher>,
}

impl InProcess {
    /// Events for waiters on `signals`, challenges pushed through `pusher`.
    pub fn new(signals: std::sync::Arc<Signals>, pusher: Box<dyn Pusher>) -> Self {
        Self { signals, pusher }
    }
}

impl Events for InProcess {
    fn publish(&self, event: Event) {
        match &event {
            Event::ChallengeCreated { device, challenge } => {
                self.pusher.push(device, challenge);
                self.signals.notify(&device_key(device));
            }
            Event::SigninChanged { login } => self.signals.notify(&signin_key(login)),
            Event::EnrolmentChanged { device } => {
                self.signals.notify(&enrolment_key(&device.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)] // tests panic on failure

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use rand_core::OsRng;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(DeviceId, ChallengeId)>>);

    impl Pusher for Arc<Recorder> {
        fn push(&self, device: &DeviceId, challenge: &ChallengeId) {
            self.0.lock().unwrap().push((*device, *challenge));
        }
    }

    /// Each event reaches the push adapter or wakes the waiters on its key, and only those.
    #[tokio::test]
    async fn events_push_and_wake_their_own_waiters() {
        let signals = Arc::new(Signals::default());
        let pushed = Arc::new(Recorder::default());
        let events = InProcess::new(signals.clone(), Box::new(pushed.clone()));
        let device = DeviceId::random(&mut OsRng);
        let challenge = ChallengeId::random(&mut OsRng);

        // A waiter that wakes well before the periodic 1 s re-check was woken by an event.
        let woken = |key: String| {
            let signals = signals.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let mut first = true;
                signals
                    .wait_for(&key, Duration::from_secs(2), || {
                        // The first check happens before the event; later ones after a wake.
                        let done = !std::mem::replace(&mut first, false);
                        async move { done.then_some(()) }
                    })
                    .await;
                started.elapsed() < Duration::from_millis(500)
            })
        };
        let device_waiter = woken(device_key(&device));
        let other_waiter = woken(device_key(&DeviceId::random(&mut OsRng)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        events.publish(Event::ChallengeCreated { device, challenge });
        assert!(device_waiter.await.unwrap(), "the device's long-poll woke");
        assert_eq!(*pushed.0.lock().unwrap(), vec![(device, challenge)]);

        let signin_waiter = woken(signin_key("L1"));
        let enrol_waiter = woken(enrolment_key(&device.to_string()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        events.publish(Event::SigninChanged { login: "L1".into() });
        events.publish(Event::EnrolmentChanged { device });
        assert!(signin_waiter.await.unwrap());
        assert!(enrol_waiter.await.unwrap());
        assert!(
            !other_waiter.await.unwrap(),
            "another device's waiter slept on"
        );
        assert_eq!(
            pushed.0.lock().unwrap().len(),
            1,
            "only challenges are pushed"
        );
    }
}
