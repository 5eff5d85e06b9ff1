//! `latchkey`: the desktop/headless shell. All logic lives in `latchkey-core`; this file
//! parses arguments, asks for PINs without echo, and prints what happened in plain words.

#[cfg(feature = "demo")]
mod demo;

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use latchkey_core::keystore::{KeyId, KeyStore, KeyringKeyStore, WrappingKey};
use latchkey_core::vault::RecordId;
use latchkey_core::{Account, Latchkey, Options, ScanResult, StaticPlatform};
use latchkey_protocol::link;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::types::ChallengeId;

/// Latchkey: approve sign-ins with a PIN, from the command line.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Data directory.
    #[arg(long, env = "LATCHKEY_HOME", global = true)]
    data_dir: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust, e.g. a development server's `dev-ca.pem`.
    #[arg(long, env = "LATCHKEY_CA", global = true)]
    ca: Option<PathBuf>,
    /// Read PINs, codes and passwords from standard input, one per line (for scripts).
    #[arg(long, global = true)]
    stdin: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add this computer to an account ("Initialise"): scan the QR image or paste the link.
    Enrol {
        /// A PNG or JPEG of the "Add a device" page's QR code.
        #[arg(long, conflicts_with = "link")]
        qr: Option<PathBuf>,
        /// The link shown under the QR code.
        #[arg(long)]
        link: Option<String>,
    },
    /// List the accounts on this computer.
    Accounts,
    /// Wait for a sign-in request, show it, and approve it with the code and your PIN.
    Wait {
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
        /// Deny instead of approving.
        #[arg(long)]
        deny: bool,
        /// With --deny: report "this wasn't me".
        #[arg(long, requires = "deny")]
        not_me: bool,
        /// Seconds to wait.
        #[arg(long, default_value_t = 60)]
        timeout: u16,
    },
    /// List the live sign-in requests, newest first, with their ids and time left.
    Requests {
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
    /// Approve a sign-in request: the only live one, or the one with this id (see `requests`).
    Approve {
        /// The request id (default: the only live request).
        challenge: Option<String>,
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
    /// Deny a sign-in request: the only live one, or the one with this id (see `requests`).
    Deny {
        /// The request id (default: the only live request).
        challenge: Option<String>,
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
        /// Report "this wasn't me".
        #[arg(long)]
        not_me: bool,
    },
    /// Change or reset the PIN.
    Pin {
        #[command(subcommand)]
        action: PinAction,
    },
    /// Remove this computer from the account (asks for the PIN). Forgot the PIN? Run
    /// `latchkey pin forgot` first, or remove the device on the account's web page ("Manage my
    /// devices"); this command then finishes the removal here.
    Remove {
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
    /// Run the whole story against a reference server started in this process (builds with
    /// the `demo` feature: `cargo run -p latchkey-cli --features demo -- demo`).
    Demo,
}

#[derive(Subcommand)]
enum PinAction {
    /// Change the PIN (you know the old one).
    Change {
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
    /// Forgot PIN: your account password, then the code e-mailed to you, then a new PIN.
    Forgot {
        /// The account (default: the only one).
        #[arg(long)]
        account: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "demo")]
        Command::Demo => demo::run().await,
        #[cfg(not(feature = "demo"))]
        Command::Demo => Err(
            "this latchkey was built without the demo (it links no server); run \
             `cargo run --release -p latchkey-cli --features demo -- demo`"
                .into(),
        ),
        _ => run(cli).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Asks for secrets: hidden on a terminal, lines on stdin with `--stdin`.
struct Prompter {
    stdin: bool,
}

impl Prompter {
    fn secret(&self, prompt: &str) -> Result<String, String> {
        if self.stdin {
            eprint!("{prompt}");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| e.to_string())?;
            eprintln!();
            return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
        }
        rpassword::prompt_password(prompt)
            .map_err(|e| format!("cannot read from the terminal ({e}); use --stdin"))
    }

    fn line(&self, prompt: &str) -> Result<String, String> {
        eprint!("{prompt}");
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        Ok(line.trim().to_owned())
    }
}

fn keystore() -> Result<Arc<dyn KeyStore>, String> {
    let store = KeyringKeyStore::linux_keyutils("latchkey").map_err(|e| e.to_string())?;
    // Probe: an unreachable keystore is reported now, with the fix, never worked around.
    let id = KeyId::random(&mut rand_core::OsRng);
    store
        .put(&id, &WrappingKey::generate(&mut rand_core::OsRng))
        .map_err(|e| e.to_string())?;
    let _ = store.delete(&id);
    Ok(Arc::new(store))
}

fn open(cli: &Cli) -> Result<Latchkey, String> {
    let data_dir = cli.data_dir.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".local/share/latchkey")
    });
    let extra_ca_pem = match &cli.ca {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let platform = Arc::new(StaticPlatform {
        screen_lock: true,
        model: "Linux computer (latchkey CLI)".into(),
    });
    let mut options = Options::new(data_dir, keystore()?, platform);
    options.extra_ca_pem = extra_ca_pem;
    Latchkey::open(options).map_err(|e| e.to_string())
}

fn pick(accounts: &[Account], wanted: Option<&str>) -> Result<RecordId, String> {
    match wanted {
        Some(text) => accounts
            .iter()
            .find(|a| a.id.as_str() == text || a.label == text)
            .map(|a| a.id.clone())
            .ok_or_else(|| format!("no account {text}; run `latchkey accounts`")),
        None => match accounts {
            [one] => Ok(one.id.clone()),
            [] => Err("no account yet; enrol first with `latchkey enrol --qr FILE`".into()),
            _ => {
                Err("several accounts: choose one with --account (see `latchkey accounts`)".into())
            }
        },
    }
}

/// Unix seconds as a time of day in UTC, as the login page shows it ("09:42:13 UTC").
fn clock_time(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02} UTC", day / 3600, day / 60 % 60, day % 60)
}

/// "1:52" for 112 seconds.
fn minutes(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn show(view: &latchkey_core::ChallengeView) {
    let c = &view.challenge;
    println!("Sign-in request for {}", c.service);
    println!("  browser    {}", c.browser);
    println!(
        "  requested  {} (the login page shows the same browser and time)",
        clock_time(c.created_at)
    );
    println!(
        "  IP         {}{}",
        c.ip,
        c.location
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default()
    );
    println!("  time left  {}", minutes(view.seconds_left()));
}

/// What became of a denied request, in words.
fn denied(outcome: latchkey_protocol::wire::AnswerOutcome) -> &'static str {
    use latchkey_protocol::wire::AnswerOutcome;
    match outcome {
        AnswerOutcome::Reported => {
            "Denied and reported as \"this wasn't me\". Sign-in requests are paused for a while; \
             change your account password if you did not try to sign in."
        }
        AnswerOutcome::Denied | AnswerOutcome::Approved => {
            "Denied. The login page says the sign-in was refused."
        }
    }
}

/// The request to answer: the one with `wanted` id, or the only live one.
async fn choose(
    core: &Latchkey,
    account: &RecordId,
    wanted: Option<&str>,
) -> Result<latchkey_core::ChallengeView, String> {
    if let Some(text) = wanted {
        let id = ChallengeId::parse(text)
            .ok_or("that is not a sign-in request id; see `latchkey requests`")?;
        return core
            .challenge(account, &id)
            .await
            .map_err(|e| e.to_string());
    }
    let mut live = core.requests(account).await.map_err(|e| e.to_string())?;
    match live.len() {
        0 => Err("no sign-in request is waiting; start the sign-in in the browser, or use `latchkey wait`".into()),
        1 => Ok(live.remove(0)),
        n => Err(format!(
            "{n} sign-in requests are waiting; choose one by id (see `latchkey requests`)"
        )),
    }
}

async fn approve(
    core: &Latchkey,
    prompt: &Prompter,
    view: &latchkey_core::ChallengeView,
) -> Result<(), String> {
    show(view);
    let code = prompt.line(&format!(
        "Type the {}-digit number shown on the login page: ",
        view.challenge.code_digits
    ))?;
    let pin = Pin::new(prompt.secret("PIN: ")?);
    core.approve(view, &code, &pin)
        .await
        .map_err(|e| e.to_string())?;
    println!("Approved. You are signed in on the web page.");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let prompt = Prompter { stdin: cli.stdin };
    let core = open(&cli)?;
    for (id, settled) in core.settle().await.map_err(|e| e.to_string())? {
        if settled != latchkey_core::Settled::Nothing && settled != latchkey_core::Settled::Pending
        {
            println!(
                "Finished an interrupted operation on {}: {settled:?}",
                id.as_str()
            );
        }
    }
    let accounts = core.accounts().map_err(|e| e.to_string())?;
    match &cli.command {
        Command::Enrol { qr, link: text } => {
            let parsed = match (qr, text) {
                (Some(path), _) => {
                    let bytes = std::fs::read(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    match latchkey_core::scan_image(&bytes, core.link_policy()).map_err(|e| e.to_string())? {
                        ScanResult::Link(link) => *link,
                        ScanResult::NotLatchkey(reason) => return Err(reason.to_string()),
                        ScanResult::NoCode => return Err("no QR code found in the image; take a sharper screenshot of the \"Add a device\" page".into()),
                    }
                }
                (None, Some(text)) => {
                    link::parse_with(text, core.link_policy()).map_err(|e| e.to_string())?
                }
                (None, None) => return Err("give --qr FILE or --link URL".into()),
            };
            println!(
                "Adding this computer to {} at {}",
                parsed.label,
                parsed.origin()
            );
            let pin = Pin::new(prompt.secret(&format!(
                "PIN ({} digits){}: ",
                parsed.pin_digits,
                if parsed.pin_source == latchkey_protocol::wire::PinSource::Web {
                    ", the one you set on the web page"
                } else {
                    ""
                }
            ))?);
            let confirm = match parsed.pin_source {
                latchkey_protocol::wire::PinSource::App => {
                    Some(Pin::new(prompt.secret("PIN again: ")?))
                }
                latchkey_protocol::wire::PinSource::Web => None,
            };
            let mut result = core.enrol(&parsed, &pin, confirm.as_ref()).await;
            // A PIN that differs from the one set on the web page: the enrolment is kept, so
            // the person can type it again (each try is counted by the server).
            while let Err(latchkey_core::Error::WrongPin { attempts_left }) = &result {
                if *attempts_left == Some(0) {
                    break;
                }
                eprintln!(
                    "{}",
                    result
                        .as_ref()
                        .err()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                let pending = core
                    .accounts()
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .find(|a| {
                        a.state == latchkey_core::vault::RecordState::Enrolling
                            && a.label == parsed.label
                    })
                    .ok_or("the interrupted enrolment was not found; scan a new code")?;
                let again = Pin::new(prompt.secret("PIN (the one you set on the web page): ")?);
                result = core.finish_enrolment(&pending.id, &again).await;
            }
            let account = result.map_err(|e| e.to_string())?;
            println!(
                "Success: this computer now approves sign-ins for {} (account {}).",
                account.label,
                account.id.as_str()
            );
        }
        Command::Accounts => {
            if accounts.is_empty() {
                println!("No account yet. Enrol with `latchkey enrol --qr FILE`.");
            }
            for a in &accounts {
                println!(
                    "{}  {}  {:?}{}",
                    a.id.as_str(),
                    a.label,
                    a.state,
                    if a.unsettled { " (unsettled)" } else { "" }
                );
            }
        }
        Command::Wait {
            account,
            deny,
            not_me,
            timeout,
        } => {
            let id = pick(&accounts, account.as_deref())?;
            println!("Waiting up to {timeout} s for a sign-in request…");
            let Some(view) = core
                .wait_for_challenge(&id, *timeout)
                .await
                .map_err(|e| e.to_string())?
            else {
                return Err("no sign-in request arrived".into());
            };
            if *deny {
                show(&view);
                let outcome = core.deny(&view, *not_me).await.map_err(|e| e.to_string())?;
                println!("{}", denied(outcome));
            } else {
                approve(&core, &prompt, &view).await?;
            }
        }
        Command::Requests { account } => {
            let id = pick(&accounts, account.as_deref())?;
            let live = core.requests(&id).await.map_err(|e| e.to_string())?;
            if live.is_empty() {
                println!("No sign-in request is waiting.");
            }
            for view in &live {
                let c = &view.challenge;
                println!(
                    "{}  {}  from {}{}  requested {}  {} left",
                    c.id,
                    c.browser,
                    c.ip,
                    c.location
                        .as_deref()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default(),
                    clock_time(c.created_at),
                    minutes(view.seconds_left())
                );
            }
        }
        Command::Approve { challenge, account }
        | Command::Deny {
            challenge, account, ..
        } => {
            let id = pick(&accounts, account.as_deref())?;
            let view = choose(&core, &id, challenge.as_deref()).await?;
            if let Command::Deny { not_me, .. } = &cli.command {
                show(&view);
                let outcome = core.deny(&view, *not_me).await.map_err(|e| e.to_string())?;
                println!("{}", denied(outcome));
            } else {
                approve(&core, &prompt, &view).await?;
            }
        }
        Command::Pin {
            action: PinAction::Change { account },
        } => {
            let id = pick(&accounts, account.as_deref())?;
            let old = Pin::new(prompt.secret("Current PIN: ")?);
            let new = Pin::new(prompt.secret("New PIN: ")?);
            let again = Pin::new(prompt.secret("New PIN again: ")?);
            if !new.ct_eq(&again) {
                return Err("the two new PINs are different".into());
            }
            core.change_pin(&id, &old, &new)
                .await
                .map_err(|e| e.to_string())?;
            println!("PIN changed.");
        }
        Command::Pin {
            action: PinAction::Forgot { account },
        } => {
            let id = pick(&accounts, account.as_deref())?;
            // The new PIN first, twice: a typo then costs nothing (resets are limited per hour).
            let new = Pin::new(prompt.secret("New PIN: ")?);
            let again = Pin::new(prompt.secret("New PIN again: ")?);
            if !new.ct_eq(&again) {
                return Err("the two new PINs are different; nothing was changed or sent".into());
            }
            let password = Password::new(prompt.secret("Account password: ")?);
            let ticket = core
                .forgot_pin_start(&id, &password)
                .await
                .map_err(|e| e.to_string())?;
            println!("A code was sent to {}.", ticket.sent_to.join(", "));
            let code = OneTimeCode::new(prompt.secret("Code from the e-mail: ")?);
            core.forgot_pin_finish(&id, &ticket, &code, &new)
                .await
                .map_err(|e| e.to_string())?;
            println!("New PIN set. The device is unlocked.");
        }
        Command::Remove { account } => {
            let id = pick(&accounts, account.as_deref())?;
            eprintln!(
                "Removing this computer from the account needs your PIN. Forgot it? Use \
                 `latchkey pin forgot`, or remove the device on the account's web page."
            );
            let pin = Pin::new(prompt.secret("PIN: ")?);
            core.remove(&id, &pin).await.map_err(|e| e.to_string())?;
            println!("Removed this computer from the account.");
        }
        Command::Demo => unreachable!("handled in main"),
    }
    Ok(())
}
