//! [`LatchkeyApp`]: the app model (`latchkey-app`) as one object. A shell sends events, draws
//! the views its [`AppListener`] is given and performs the effects; the app runs every network
//! call, timer and long-poll itself, on its own thread.

use std::sync::Arc;

use latchkey_app::{AppEffect, AppEvent, AppView};

use super::*;

/// What a shell implements to hear from the app. Called on the app's thread: hop to the UI
/// thread. Never called while the app holds its state, so it may call back.
#[uniffi::export(with_foreign)]
pub trait AppListener: Send + Sync {
    /// A new view to draw.
    fn view_changed(&self, view: AppView);
    /// Something only the platform can do (notifications, the camera, vibration, a URL).
    fn perform(&self, effect: AppEffect);
}

struct ForeignListener(Arc<dyn AppListener>);

impl latchkey_app::Listener for ForeignListener {
    fn view_changed(&self, view: AppView) {
        self.0.view_changed(view);
    }
    fn perform(&self, effect: AppEffect) {
        self.0.perform(effect);
    }
}

/// Opens the core over the shell's keystore, signer and platform.
pub(crate) fn open_core(
    config: Config,
    keystore: Arc<dyn KeyStore>,
    signer: Option<Arc<dyn DeviceSigner>>,
    platform: Arc<dyn Platform>,
) -> Result<latchkey_core::Latchkey, LatchkeyError> {
    let mut options = latchkey_core::Options::new(
        PathBuf::from(config.data_dir),
        Arc::new(ForeignKeyStore(keystore)),
        Arc::new(ForeignPlatform(platform)),
    );
    options.signer =
        signer.map(|s| Arc::new(ForeignSigner(s)) as Arc<dyn core_signer::DeviceSigner>);
    options.extra_ca_pem = config.extra_ca_pem.map(String::into_bytes);
    options.link_policy = LinkPolicy {
        allowed_hosts: config.allowed_hosts,
    };
    Ok(latchkey_core::Latchkey::open(options)?)
}

/// The app: open one per process.
#[derive(uniffi::Object)]
pub struct LatchkeyApp {
    app: latchkey_app::App,
    /// The app's runtime (its thread runs it), for [`LatchkeyApp::idle`].
    runtime: tokio::runtime::Handle,
    /// Ends the app's runtime thread when the app is dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[uniffi::export]
impl LatchkeyApp {
    /// Opens the data directory and starts the app on its own thread. `signer` is the
    /// platform's hardware signer; without one the library keeps device keys in software,
    /// sealed under `keystore` keys.
    /// `languages`: the platform's preferred languages, most preferred first;
    /// `utc_offset_minutes`: the device's time zone. Send `AppEvent.Started` next.
    #[uniffi::constructor]
    pub fn new(
        config: Config,
        keystore: Arc<dyn KeyStore>,
        signer: Option<Arc<dyn DeviceSigner>>,
        platform: Arc<dyn Platform>,
        languages: Vec<String>,
        utc_offset_minutes: i32,
        listener: Arc<dyn AppListener>,
    ) -> Result<Arc<Self>, LatchkeyError> {
        let core = Arc::new(open_core(config, keystore, signer, platform)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| LatchkeyError::from(Error::InvalidInput(format!("no runtime: {e}"))))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("latchkey-app".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| LatchkeyError::from(Error::InvalidInput(format!("no thread: {e}"))))?;
        let app = latchkey_app::App::new(
            core,
            Arc::new(ForeignListener(listener)),
            handle.clone(),
            latchkey_app::Options {
                languages,
                utc_offset_minutes,
                ..latchkey_app::Options::default()
            },
        );
        Ok(Arc::new(Self {
            app,
            runtime: handle,
            _stop: stop,
        }))
    }

    /// The current view.
    pub fn view(&self) -> AppView {
        self.app.view()
    }

    /// Tells the app something (the person's action, a platform event).
    pub fn send(&self, event: AppEvent) {
        self.app.send(event);
    }

    /// One camera frame while scanning: the luma (Y) plane, `width` × `height`, rows
    /// `row_stride` bytes apart. Decoded on the calling (camera) thread.
    pub fn scan_frame(&self, luma: Vec<u8>, width: u32, height: u32, row_stride: u32) {
        self.app.scan_frame(&luma, width, height, row_stride);
    }

    /// Blocks until no work is in flight (long-polls do not count): for tests, and for a shell
    /// that must show a result before it sleeps. Never call it from the listener (it runs on
    /// the app's thread, which this waits for).
    pub fn idle(&self) {
        // On the app's own thread (from the listener) there is nothing to wait for that could
        // finish: return instead of deadlocking.
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        self.runtime.block_on(self.app.idle());
    }
}
