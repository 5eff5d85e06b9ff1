//! `latchkey`: the desktop/headless shell. All logic lives in `latchkey-core`; this file
//! parses arguments, asks for PINs without echo, and prints what happened in plain words.

#[cfg(feature = "demo")]
mod demo;

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use latchkey_core::keystore::KeyStore;
use latchkey_core::os_keystore::{self, StoreKind};
use latchkey_core::vault::RecordId;
use latchkey_core::{Account, Latchkey, Options, ScanResult, StaticPlatform};
use latchkey_protocol::link;
use latchkey_protocol::secret::{OneTimeCode, Password, Pin};
use latchkey_protocol::types::ChallengeId;

mod words;
use words::{fail, say, text, Text};

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
    /// Where the keys live: secret-service (default on Linux: GNOME Keyring, KWallet),
    /// kernel-keyring (forgets at reboot) or windows-credentials. A data directory keeps the
    /// store it was set up with.
    #[arg(long, env = "LATCHKEY_KEYSTORE", global = true)]
    keystore: Option<String>,
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
        Command::Demo => Err(say("cli-demo-missing")),
        _ => run(cli).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{}", text(Text::of("cli-error").with("message", message)));
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
            .map_err(|e| text(Text::of("cli-no-terminal").with("reason", e.to_string())))
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

/// The data directory's OS keystore (the Secret Service unless it was set up with another);
/// an unreachable one is reported with the fix, never worked around.
fn keystore(cli: &Cli, data_dir: &std::path::Path) -> Result<Arc<dyn KeyStore>, String> {
    let asked = match cli.keystore.as_deref() {
        None => None,
        Some(name) => Some(StoreKind::parse(name).ok_or_else(|| {
            text(
                Text::of("cli-unknown-keystore")
                    .with("name", name)
                    .with("choices", StoreKind::ALL.map(StoreKind::name).join(", ")),
            )
        })?),
    };
    let opened = os_keystore::open(data_dir, asked, "latchkey")
        .map_err(|e| text(Text::of("cli-hint-keystore").with("reason", e.to_string())))?;
    if !opened.kind.survives_reboot() {
        eprintln!("{}", say("cli-keystore-forgets"));
    }
    Ok(opened.store)
}

fn open(cli: &Cli) -> Result<Latchkey, String> {
    let data_dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => os_keystore::default_data_dir().ok_or_else(|| say("cli-no-data-dir"))?,
    };
    let extra_ca_pem = match &cli.ca {
        Some(path) => Some(std::fs::read(path).map_err(|e| cannot_read(path, &e))?),
        None => None,
    };
    let platform = Arc::new(StaticPlatform {
        screen_lock: true,
        model: "Linux computer (latchkey CLI)".into(),
    });
    let store = keystore(cli, &data_dir)?;
    let mut options = Options::new(data_dir, store, platform);
    options.extra_ca_pem = extra_ca_pem;
    Latchkey::open(options).map_err(fail)
}

fn pick(accounts: &[Account], wanted: Option<&str>) -> Result<RecordId, String> {
    match wanted {
        Some(text) => accounts
            .iter()
            .find(|a| a.id.as_str() == text || a.label == text)
            .map(|a| a.id.clone())
            .ok_or_else(|| words::text(Text::of("cli-no-such-account").with("account", text))),
        None => match accounts {
            [one] => Ok(one.id.clone()),
            [] => Err(say("cli-no-account")),
            _ => Err(say("cli-several-accounts")),
        },
    }
}

/// Unix seconds as a time of day in UTC, as the login page shows it ("09:42:13 UTC").
fn clock_time(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02} UTC", day / 3600, day / 60 % 60, day % 60)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// "1:52" for 112 seconds.
fn minutes(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// "  label      value", the labels in one column whatever the language.
fn field(label: &str, value: &str) {
    println!("  {label:<14} {value}");
}

fn show(view: &latchkey_core::ChallengeView) {
    let c = &view.challenge;
    println!(
        "{}",
        text(Text::of("cli-request-title").with("service", c.service.clone()))
    );
    field(&say("cli-label-browser"), &c.browser);
    field(
        &say("cli-label-requested"),
        &format!("{} {}", clock_time(c.created_at), say("cli-requested-note")),
    );
    let place = c
        .location
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    field(&say("cli-label-ip"), &format!("{}{place}", c.ip));
    field(&say("cli-label-left"), &minutes(view.seconds_left()));
}

fn cannot_read(path: &std::path::Path, e: &std::io::Error) -> String {
    text(
        Text::of("cli-cannot-read")
            .with("path", path.display().to_string())
            .with("reason", e.to_string()),
    )
}

/// What became of a denied request, in words.
fn denied(outcome: latchkey_protocol::wire::AnswerOutcome) -> String {
    use latchkey_protocol::wire::AnswerOutcome;
    say(match outcome {
        AnswerOutcome::Reported => "cli-reported",
        AnswerOutcome::Denied | AnswerOutcome::Approved => "cli-denied",
    })
}

/// The request to answer: the one with `wanted` id, or the only live one.
async fn choose(
    core: &Latchkey,
    account: &RecordId,
    wanted: Option<&str>,
) -> Result<latchkey_core::ChallengeView, String> {
    if let Some(text) = wanted {
        let id = ChallengeId::parse(text).ok_or_else(|| say("cli-not-a-request-id"))?;
        return core.challenge(account, &id).await.map_err(fail);
    }
    let mut live = core.requests(account).await.map_err(fail)?;
    match live.len() {
        0 => Err(say("cli-no-request")),
        1 => Ok(live.remove(0)),
        n => Err(words::text(
            Text::of("cli-several-requests").num("count", i64::try_from(n).unwrap_or(i64::MAX)),
        )),
    }
}

async fn approve(
    core: &Latchkey,
    prompt: &Prompter,
    view: &latchkey_core::ChallengeView,
) -> Result<(), String> {
    show(view);
    let code = prompt.line(&words::prompt(
        Text::of("cli-prompt-code").num("digits", view.challenge.code_digits),
    ))?;
    let pin = Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-pin")))?);
    core.approve(view, &code, &pin).await.map_err(fail)?;
    println!("{}", say("cli-approved"));
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    let prompt = Prompter { stdin: cli.stdin };
    let core = open(&cli)?;
    let accounts = core.accounts().map_err(fail)?;
    for (id, settled) in core.settle().await.map_err(fail)? {
        let label = accounts
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| id.as_str().to_owned(), |a| a.label.clone());
        if let Some(message) = words::settled(settled, &label) {
            println!("{message}");
        }
    }
    let accounts = core.accounts().map_err(fail)?;
    match &cli.command {
        Command::Enrol {
            qr,
            link: link_text,
        } => {
            let parsed = match (qr, link_text) {
                (Some(path), _) => {
                    let bytes = std::fs::read(path).map_err(|e| cannot_read(path, &e))?;
                    match latchkey_core::scan_image(&bytes, core.link_policy()).map_err(fail)? {
                        ScanResult::Link(link) => *link,
                        ScanResult::NotLatchkey(reason) => {
                            return Err(fail(latchkey_core::Error::NotLatchkeyQr(reason)))
                        }
                        ScanResult::NoCode => return Err(say("cli-no-code-in-image")),
                    }
                }
                (None, Some(link_text)) => link::parse_with(link_text, core.link_policy())
                    .map_err(|e| fail(latchkey_core::Error::NotLatchkeyQr(e)))?,
                (None, None) => return Err(say("cli-give-qr-or-link")),
            };
            println!(
                "{}",
                text(
                    Text::of("cli-adding")
                        .with("account", parsed.label.clone())
                        .with("host", parsed.origin())
                )
            );
            let on_web = parsed.pin_source == latchkey_protocol::wire::PinSource::Web;
            let pin = Pin::new(
                prompt.secret(&words::prompt(
                    Text::of(if on_web {
                        "cli-prompt-pin-web"
                    } else {
                        "cli-prompt-pin-digits"
                    })
                    .num("digits", parsed.pin_digits),
                ))?,
            );
            let confirm = match parsed.pin_source {
                latchkey_protocol::wire::PinSource::App => Some(Pin::new(
                    prompt.secret(&words::prompt(Text::of("cli-prompt-pin-again")))?,
                )),
                latchkey_protocol::wire::PinSource::Web => None,
            };
            let mut result = core.enrol(&parsed, &pin, confirm.as_ref()).await;
            // A PIN that differs from the one set on the web page: the enrolment is kept, so
            // the person can type it again (each try is counted by the server).
            while let Err(latchkey_core::Error::WrongPin { attempts_left }) = &result {
                if *attempts_left == Some(0) {
                    break;
                }
                if let Err(e) = &result {
                    eprintln!("{}", words::error(e));
                }
                let pending = core
                    .accounts()
                    .map_err(fail)?
                    .into_iter()
                    .find(|a| {
                        a.state == latchkey_core::vault::RecordState::Enrolling
                            && a.label == parsed.label
                    })
                    .ok_or_else(|| say("cli-enrolment-lost"))?;
                let again = Pin::new(prompt.secret(&words::prompt(
                    Text::of("cli-prompt-pin-web").num("digits", parsed.pin_digits),
                ))?);
                result = core.finish_enrolment(&pending.id, &again).await;
            }
            let account = result.map_err(fail)?;
            println!(
                "{}",
                text(
                    Text::of("cli-enrolled")
                        .with("account", account.label.clone())
                        .with("id", account.id.as_str())
                )
            );
        }
        Command::Accounts => {
            if accounts.is_empty() {
                println!("{}", say("cli-no-account"));
            }
            for a in &accounts {
                let state = say(match a.state {
                    latchkey_core::vault::RecordState::Enrolling => "cli-state-enrolling",
                    _ => "cli-state-active",
                });
                let unsettled = if a.unsettled {
                    format!(" {}", say("cli-unsettled"))
                } else {
                    String::new()
                };
                println!("{}  {}  {state}{unsettled}", a.id.as_str(), a.label);
            }
        }
        Command::Wait {
            account,
            deny,
            not_me,
            timeout,
        } => {
            let id = pick(&accounts, account.as_deref())?;
            println!("{}", text(Text::of("cli-waiting").num("seconds", *timeout)));
            let Some(view) = core.wait_for_challenge(&id, *timeout).await.map_err(fail)? else {
                return Err(say("cli-none-arrived"));
            };
            if *deny {
                show(&view);
                let outcome = core.deny(&view, *not_me).await.map_err(fail)?;
                println!("{}", denied(outcome));
            } else {
                approve(&core, &prompt, &view).await?;
            }
        }
        Command::Requests { account } => {
            let id = pick(&accounts, account.as_deref())?;
            let live = core.requests(&id).await.map_err(fail)?;
            if live.is_empty() {
                println!("{}", say("cli-no-request"));
            }
            for view in &live {
                let c = &view.challenge;
                let place = c
                    .location
                    .as_deref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                println!(
                    "{}",
                    text(
                        Text::of("cli-request-line")
                            .with("id", c.id.to_string())
                            .with("browser", c.browser.clone())
                            .with("ip", format!("{}{place}", c.ip))
                            .with("time", clock_time(c.created_at))
                            .with("left", minutes(view.seconds_left()))
                    )
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
                let outcome = core.deny(&view, *not_me).await.map_err(fail)?;
                println!("{}", denied(outcome));
            } else {
                approve(&core, &prompt, &view).await?;
            }
        }
        Command::Pin {
            action: PinAction::Change { account },
        } => {
            let id = pick(&accounts, account.as_deref())?;
            let old = Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-old-pin")))?);
            let new = Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-new-pin")))?);
            let again =
                Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-new-pin-again")))?);
            if !new.ct_eq(&again) {
                return Err(say("cli-pins-differ"));
            }
            core.change_pin(&id, &old, &new).await.map_err(fail)?;
            println!("{}", say("change-done"));
        }
        Command::Pin {
            action: PinAction::Forgot { account },
        } => {
            let id = pick(&accounts, account.as_deref())?;
            // The new PIN first, twice: a typo then costs nothing (resets are limited per hour).
            let new = Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-new-pin")))?);
            let again =
                Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-new-pin-again")))?);
            if !new.ct_eq(&again) {
                return Err(say("cli-pins-differ"));
            }
            let password =
                Password::new(prompt.secret(&words::prompt(Text::of("cli-prompt-password")))?);
            let ticket = core.forgot_pin_start(&id, &password).await.map_err(fail)?;
            let minutes_left = ticket.expires_at.saturating_sub(unix_now()).div_ceil(60);
            println!(
                "{}",
                text(
                    Text::of("forgot-sent")
                        .with("addresses", ticket.sent_to.join(", "))
                        .num("minutes", i64::try_from(minutes_left).unwrap_or(15))
                )
            );
            let code = OneTimeCode::new(prompt.secret(&words::prompt(Text::of("forgot-code")))?);
            core.forgot_pin_finish(&id, &ticket, &code, &new)
                .await
                .map_err(fail)?;
            println!("{}", say("forgot-done"));
        }
        Command::Remove { account } => {
            let id = pick(&accounts, account.as_deref())?;
            eprintln!("{}", say("cli-remove-intro"));
            let pin = Pin::new(prompt.secret(&words::prompt(Text::of("cli-prompt-pin")))?);
            let label = accounts
                .iter()
                .find(|a| a.id == id)
                .map_or_else(String::new, |a| a.label.clone());
            core.remove(&id, &pin).await.map_err(fail)?;
            println!("{}", text(Text::of("remove-done").with("account", label)));
        }
        Command::Demo => unreachable!("handled in main"),
    }
    Ok(())
}
