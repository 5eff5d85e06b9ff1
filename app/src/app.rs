//! The driver: feeds events to the model, runs the work it asks for on the core (HTTPS,
//! vault, keystore: P5 is enforced there, once), keeps one long-poll per account and the
//! countdown timer, and tells the shell's [`Listener`] each new view and effect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use latchkey_core::vault::{RecordId, RecordState};
use latchkey_core::{Error, ErrorKind, Latchkey, ScanResult};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::event::{AppEffect, AppEvent, PushService};
use crate::model::{request_key, Done, Input, Model, Out, Sources, Work};
use crate::view::AppView;
use latchkey_core::protocol::wire::{PushKind, PushTarget};

/// What the shell provides: it draws views and performs effects. Called from the app's
/// threads: hop to the UI thread. Never called while the app's state is locked, so it may call
/// [`App::view`] or [`App::send`] back.
pub trait Listener: Send + Sync {
    /// A new view to draw.
    fn view_changed(&self, view: AppView);
    /// Something only the platform can do.
    fn perform(&self, effect: AppEffect);
}

/// The app's time: a monotonic clock for countdowns and the wall clock for times shown.
pub trait Clock: Send + Sync {
    /// Monotonic seconds.
    fn now(&self) -> u64;
    /// Unix seconds.
    fn unix_now(&self) -> u64;
}

/// The system's clocks.
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        self.0.elapsed().as_secs()
    }
    fn unix_now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// How to run the app.
pub struct Options {
    /// The platform's preferred languages, most preferred first (BCP 47: `fr-CH`, `de`).
    pub languages: Vec<String>,
    /// The device's time zone, minutes east of UTC (for times shown).
    pub utc_offset_minutes: i32,
    /// The clock; `None`: the system's, with a one-second timer for countdowns. A test clock
    /// runs no timer: the test sends [`AppEvent::Tick`].
    pub clock: Option<Arc<dyn Clock>>,
    /// Seconds each long-poll waits (at most the protocol's limit).
    pub poll_wait_seconds: u16,
    /// Pause between polls while requests are waiting (the server answers those at once).
    pub poll_pause: Duration,
    /// The shell captures screens ([`AppEffect::CaptureScreens`]; desktops): "Scan my
    /// screens" is offered.
    pub screens: bool,
    /// The shell reads clipboard images ([`AppEffect::ReadClipboardImage`]): "Paste an image
    /// of the code" is offered.
    pub clipboard_images: bool,
    /// The shell has a webcam that starts when the person asks ("Use my camera"; desktops),
    /// not with the scan screen as a phone's camera does.
    pub webcam: bool,
    /// The keystore forgets keys when the computer restarts (the Linux kernel keyring): the
    /// home screen says so for as long as it is used.
    pub keys_forgotten_at_reboot: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            languages: vec!["en".into()],
            utc_offset_minutes: 0,
            clock: None,
            poll_wait_seconds: 25,
            poll_pause: Duration::from_secs(3),
            screens: false,
            clipboard_images: false,
            webcam: false,
            keys_forgotten_at_reboot: false,
        }
    }
}

struct Inner {
    core: Arc<Latchkey>,
    model: Mutex<Model>,
    listener: Arc<dyn Listener>,
    runtime: Handle,
    clock: Arc<dyn Clock>,
    polls: Mutex<HashMap<RecordId, JoinHandle<()>>>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// Wakes the ticker when a countdown starts (it sleeps otherwise: an idle app wakes for
    /// nothing but its long-polls).
    countdown: Arc<Notify>,
    in_flight: AtomicUsize,
    idle: Notify,
    poll_wait: u16,
    poll_pause: Duration,
    /// The camera's frames, read with the passes spread over them.
    scanner: Mutex<latchkey_core::FrameScanner>,
}

/// The app: one per process, over one core handle.
pub struct App {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the app down with it: the state stays usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    /// The app over `core`, running its work on `runtime`. Send [`AppEvent::Started`] next.
    pub fn new(
        core: Arc<Latchkey>,
        listener: Arc<dyn Listener>,
        runtime: Handle,
        options: Options,
    ) -> Self {
        let system = options.clock.is_none();
        let clock = options
            .clock
            .unwrap_or_else(|| Arc::new(SystemClock::default()));
        let model = Model::new(
            options.languages,
            options.utc_offset_minutes,
            core.link_policy().clone(),
            Sources {
                files: cfg!(feature = "image-files"),
                screens: options.screens,
                clipboard: options.clipboard_images,
                webcam: options.webcam,
                keys_forgotten_at_reboot: options.keys_forgotten_at_reboot,
            },
        );
        let inner = Arc::new(Inner {
            core,
            model: Mutex::new(model),
            listener,
            runtime,
            clock,
            polls: Mutex::new(HashMap::new()),
            ticker: Mutex::new(None),
            countdown: Arc::new(Notify::new()),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            poll_wait: options.poll_wait_seconds,
            poll_pause: options.poll_pause,
            scanner: Mutex::default(),
        });
        if system {
            let weak = Arc::downgrade(&inner);
            let countdown = Arc::clone(&inner.countdown);
            let ticker = inner.runtime.spawn(async move {
                loop {
                    let counting = weak
                        .upgrade()
                        .is_some_and(|inner| lock(&inner.model).counting_down());
                    if !counting {
                        // Asleep until a request is waiting (or the app is gone).
                        countdown.notified().await;
                        continue;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(inner) = weak.upgrade() else { return };
                    if lock(&inner.model).counting_down() {
                        inner.apply(Input::AppEvent(AppEvent::Tick));
                    }
                }
            });
            *lock(&inner.ticker) = Some(ticker);
        }
        Self { inner }
    }

    /// The current view (cheap; no I/O).
    pub fn view(&self) -> AppView {
        let mut model = lock(&self.inner.model);
        model.now = self.inner.clock.now();
        model.view()
    }

    /// Tells the app something; the new view (and any effect) reaches the listener.
    pub fn send(&self, event: AppEvent) {
        self.inner.apply(Input::AppEvent(event));
    }

    /// One camera frame while scanning: its luma (Y) plane, rows `stride` bytes apart. Decoded
    /// on the calling thread (the camera's), without a copy; the deeper passes take turns over
    /// successive frames ([`latchkey_core::FrameScanner`]).
    pub fn scan_frame(&self, luma: &[u8], width: u32, height: u32, stride: u32) {
        if !lock(&self.inner.model).scanning() {
            return;
        }
        let result = lock(&self.inner.scanner).scan(
            luma,
            width as usize,
            height as usize,
            stride as usize,
            self.inner.core.link_policy(),
        );
        self.inner.apply(Input::Scanned(result));
    }

    /// Waits until no work is in flight (long-polls do not count). For tests and for shells
    /// that show a result before they go to sleep.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Stops the long-polls and the timer (the app is closing).
    pub fn shutdown(&self) {
        for (_, task) in lock(&self.inner.polls).drain() {
            task.abort();
        }
        if let Some(ticker) = lock(&self.inner.ticker).take() {
            ticker.abort();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    fn apply(self: &Arc<Self>, input: Input) {
        let outs = {
            let mut model = lock(&self.model);
            model.now = self.clock.now();
            model.unix_now = self.clock.unix_now();
            let outs = model.update(input);
            if model.counting_down() {
                self.countdown.notify_one();
            }
            outs
        };
        for out in outs {
            match out {
                Out::Work(work) => self.run(work),
                Out::AppEffect(effect) => self.listener.perform(effect),
            }
        }
        // Built after the work ran (which may have applied more): the view sent last is the
        // newest, and its revision lets a shell drop one that overtook it from another thread.
        let view = lock(&self.model).view();
        self.listener.view_changed(view);
    }

    fn run(self: &Arc<Self>, work: Work) {
        match work {
            Work::Poll(accounts) => return self.poll(accounts),
            Work::ScanImage(bytes) => {
                let result = scan_image(&bytes, &self.core);
                return self.apply(Input::Scanned(result));
            }
            _ => {}
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(self);
        self.runtime.spawn(async move {
            let done = perform(&inner, work).await;
            inner.apply(Input::Done(done));
            if inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.idle.notify_waiters();
            }
        });
    }

    /// Keeps exactly one long-poll per account in `accounts`.
    fn poll(self: &Arc<Self>, accounts: Vec<RecordId>) {
        let mut polls = lock(&self.polls);
        polls.retain(|account, task| {
            let keep = accounts.contains(account) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for account in accounts {
            if polls.contains_key(&account) {
                continue;
            }
            let weak: Weak<Self> = Arc::downgrade(self);
            let core = Arc::clone(&self.core);
            let (wait, pause) = (self.poll_wait, self.poll_pause);
            let key = account.clone();
            let task = self.runtime.spawn(async move {
                let mut backoff = Duration::from_secs(2);
                loop {
                    let started = Instant::now();
                    let result = core.pending(&account, wait).await;
                    let Some(inner) = weak.upgrade() else { return };
                    match result {
                        Ok(challenges) => {
                            let waiting = !challenges.is_empty();
                            backoff = Duration::from_secs(2);
                            inner.apply(Input::Done(Done::Pending {
                                account: account.clone(),
                                challenges,
                            }));
                            drop(inner);
                            if waiting {
                                tokio::time::sleep(pause).await;
                            } else if started.elapsed() < Duration::from_secs(1) {
                                // A server (or proxy) that answers an empty list at once must
                                // not make this a busy loop.
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                        Err(e) => {
                            tracing::info!(error = %e, "long-poll failed; retrying");
                            inner.apply(Input::Done(Done::PollFailed {
                                account: account.clone(),
                            }));
                            drop(inner);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(60));
                        }
                    }
                }
            });
            polls.insert(key, task);
        }
    }
}

#[cfg(feature = "image-files")]
fn scan_image(bytes: &[u8], core: &Latchkey) -> Result<ScanResult, Error> {
    latchkey_core::scan_image(bytes, core.link_policy())
}

#[cfg(not(feature = "image-files"))]
fn scan_image(_bytes: &[u8], _core: &Latchkey) -> Result<ScanResult, Error> {
    Err(Error::InvalidInput(
        "this build reads codes from the camera only".into(),
    ))
}

/// Runs one piece of work on the core.
async fn perform(inner: &Arc<Inner>, work: Work) -> Done {
    let core = &inner.core;
    match work {
        Work::LoadAccounts => Done::Accounts(core.accounts()),
        Work::Settle => Done::Settled(core.settle().await),
        Work::CheckNow(accounts) => {
            // Each answer lands as it comes; then "checking" ends.
            for account in accounts {
                let done = match core.pending(&account, 0).await {
                    Ok(challenges) => Done::Pending {
                        account,
                        challenges,
                    },
                    Err(_) => Done::PollFailed { account },
                };
                inner.apply(Input::Done(done));
            }
            Done::CheckedNow
        }
        Work::Fetch { account, challenge } => {
            let result = core.challenge(&account, &challenge).await;
            Done::Fetched {
                account,
                challenge,
                result,
            }
        }
        Work::Enrol { link, pin, again } => {
            let ids = || -> Vec<RecordId> {
                core.accounts()
                    .map(|all| all.into_iter().map(|a| a.id).collect())
                    .unwrap_or_default()
            };
            let before = ids();
            let result = core.enrol(&link, &pin, again.as_ref()).await;
            // A wrong PIN keeps the enrolling account this call made (the one that was not
            // there before): the PIN is retried on it, never on an older one.
            let retry = match &result {
                Err(e) if e.kind() == ErrorKind::WrongPin => core.accounts().ok().and_then(|all| {
                    all.into_iter()
                        .find(|a| a.state == RecordState::Enrolling && !before.contains(&a.id))
                        .map(|a| a.id)
                }),
                _ => None,
            };
            Done::Enrolled { result, retry }
        }
        Work::FinishEnrolment { account, pin } => {
            let result = core.finish_enrolment(&account, &pin).await;
            Done::Enrolled {
                result,
                retry: Some(account),
            }
        }
        Work::Approve { view, code, pin } => Done::Answered {
            request: request_key(&view.account, &view.challenge.id.to_string()),
            result: core
                .approve(&view, &code, &pin)
                .await
                .map(|()| latchkey_core::protocol::wire::AnswerOutcome::Approved),
        },
        Work::Deny { view, not_me } => Done::Answered {
            request: request_key(&view.account, &view.challenge.id.to_string()),
            result: core.deny(&view, not_me).await,
        },
        Work::ChangePin { account, old, new } => {
            Done::PinChanged(core.change_pin(&account, &old, &new).await)
        }
        Work::ForgotStart { account, password } => {
            Done::ResetStarted(core.forgot_pin_start(&account, &password).await)
        }
        Work::ForgotFinish {
            account,
            ticket,
            code,
            new,
        } => Done::ResetFinished(core.forgot_pin_finish(&account, &ticket, &code, &new).await),
        Work::Remove { account, pin } => {
            let result = core.remove(&account, &pin).await;
            Done::Removed { account, result }
        }
        Work::ScanImages { source, images } => {
            let policy = core.link_policy().clone();
            // Decoding a large screen takes a while: off the async workers.
            let scanned = tokio::task::spawn_blocking(move || {
                images
                    .into_iter()
                    .map(|mut image| {
                        let result = latchkey_core::scan_frame(
                            &image.luma,
                            image.width as usize,
                            image.height as usize,
                            image.width as usize,
                            &policy,
                        );
                        // Nothing captured is kept.
                        image.wipe();
                        (std::mem::take(&mut image.name), result)
                    })
                    .collect()
            })
            .await;
            Done::ImagesScanned {
                source,
                results: scanned.unwrap_or_else(|_| {
                    vec![(
                        String::new(),
                        Err(Error::InvalidInput("the image could not be scanned".into())),
                    )]
                }),
            }
        }
        Work::RegisterPush { accounts, target } => {
            let target = target.map(|r| PushTarget {
                kind: match r.service {
                    PushService::Fcm => PushKind::Fcm,
                    PushService::Apns => PushKind::Apns,
                    PushService::Wns => PushKind::Wns,
                    PushService::WebPush => PushKind::Webpush,
                },
                token: r.token,
                p256dh: r.p256dh,
                auth: r.auth,
            });
            for account in accounts {
                // A server that does not push through this service, or is offline, still
                // delivers by long-poll: nothing to show.
                if let Err(e) = core.set_push_target(&account, target.as_ref()).await {
                    tracing::info!(error = %e, "push target not registered; long-poll stays");
                }
            }
            Done::PushRegistered
        }
        Work::Poll(_) | Work::ScanImage(_) => Done::CheckedNow,
    }
}
