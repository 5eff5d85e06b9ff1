//! What happened, published through one interface: "a challenge was created for device D",
//! "sign-in L changed" (answered, cancelled, a PIN evaluated for it), "the enrolment of device
//! D changed". Handlers publish; how an event travels is the publisher's business: on one
//! node ([`InProcess`]) it wakes this process's waiters and the push sender; on PostgreSQL
//! ([`Postgres`]) it also reaches every other node through `NOTIFY`.
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
        /// A push job was written for it (the device has a push target): wake the sender.
        queued: bool,
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

impl Event {
    /// The key its waiters sleep on.
    pub fn key(&self) -> String {
        match self {
            Self::ChallengeCreated { device, .. } => device_key(device),
            Self::SigninChanged { login } => signin_key(login),
            Self::EnrolmentChanged { device } => enrolment_key(&device.to_string()),
        }
    }
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
        if let Event::ChallengeCreated {
            device,
            challenge,
            queued: true,
        } = &event
        {
            self.pusher.push(device, challenge);
        }
        self.signals.notify(&event.key());
    }
}

/// The channel nodes notify each other on.
pub const CHANNEL: &str = "latchkey_wake";

/// The most keys one notification carries (PostgreSQL allows 8,000 bytes of payload; a key
/// is under 50).
const KEYS_PER_NOTIFY: usize = 100;

/// Several nodes on one PostgreSQL: wakes this node's waiters at once (as [`InProcess`]) and
/// every other node's through `NOTIFY latchkey_wake`, carrying only keys (ids, P4). A
/// notification is a hint: the waiter re-reads the row. Sent after the change committed, by
/// a task that batches bursts; received by [`listen`] on a connection of its own.
pub struct Postgres {
    local: InProcess,
    outgoing: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Events for Postgres {
    fn publish(&self, event: Event) {
        let key = event.key();
        self.local.publish(event);
        // The sending task stops only with the server.
        let _ = self.outgoing.send(key);
    }
}

/// Where wake-ups between nodes travel.
pub struct Wakeups {
    /// The publisher handlers use.
    pub events: Postgres,
    /// Sends this node's events to the others.
    pub sender: tokio::task::JoinHandle<()>,
    /// Wakes this node's waiters for the others' events.
    pub listener: tokio::task::JoinHandle<()>,
}

/// Starts cross-node wake-ups on the PostgreSQL at `url`: `pool` sends, a dedicated
/// connection listens (never through a transaction-pooling proxy: `LISTEN` needs a session).
pub fn postgres(
    url: &str,
    pool: sqlx::AnyPool,
    signals: std::sync::Arc<Signals>,
    pusher: Box<dyn Pusher>,
) -> Wakeups {
    let mut id = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    let node = hex::encode(id);
    let (outgoing, mut incoming) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sender = {
        let node = node.clone();
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut keys = vec![first];
                while keys.len() < KEYS_PER_NOTIFY {
                    match incoming.try_recv() {
                        Ok(key) => keys.push(key),
                        Err(_) => break,
                    }
                }
                keys.sort_unstable();
                keys.dedup();
                let payload = format!("{node}\n{}", keys.join("\n"));
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(&pool)
                    .await
                {
                    // Other nodes' waiters notice at their safety re-check instead.
                    tracing::warn!(error = %e, "cannot notify other nodes");
                }
            }
        })
    };
    let listener = tokio::spawn(listen(
        url.to_owned(),
        node,
        std::sync::Arc::downgrade(&signals),
    ));
    Wakeups {
        events: Postgres {
            local: InProcess::new(signals, pusher),
            outgoing,
        },
        sender,
        listener,
    }
}

/// Turns other nodes' notifications into wake-ups of this node's waiters. Whenever the
/// listening connection is (re)established, every waiter re-checks once: what was notified
/// while it was down is lost.
async fn listen(url: String, node: String, signals: std::sync::Weak<Signals>) {
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other nodes' events; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                continue;
            }
        };
        let connected_at = tokio::time::Instant::now();
        let Some(strong) = signals.upgrade() else {
            return;
        };
        strong.notify_all();
        drop(strong);
        loop {
            // `Ok(None)`: the connection was lost; reconnect explicitly (and re-check all).
            let Ok(Some(notification)) = listener.try_recv().await else {
                tracing::warn!("lost the connection listening for other nodes' events");
                // A connection that keeps dropping must not make every waiter re-check every
                // 100 ms: the backoff starts over only after a connection that lasted.
                if connected_at.elapsed() > std::time::Duration::from_secs(10) {
                    backoff = std::time::Duration::from_millis(100);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                break;
            };
            let mut lines = notification.payload().split('\n');
            if lines.next() == Some(node.as_str()) {
                continue; // this node's own events woke its waiters already
            }
            let Some(signals) = signals.upgrade() else {
                return;
            };
            for key in lines {
                signals.notify(key);
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
        events.publish(Event::ChallengeCreated {
            device,
            challenge,
            queued: true,
        });
        // A challenge for a device without a push target wakes its long-poll only.
        let unpushed = ChallengeId::random(&mut OsRng);
        events.publish(Event::ChallengeCreated {
            device,
            challenge: unpushed,
            queued: false,
        });
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
