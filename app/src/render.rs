//! The model as the shell sees it: every text in the chosen language, every control decided.

use latchkey_core::protocol::wire::PinSource;
use latchkey_core::vault::{RecordId, RecordState};
use latchkey_core::Account;

use crate::event::{Action, InputField};
use crate::model::{
    assurance_text, host_of, split_label, Digits, Model, Request, Route, Webcam, MAILED_CODE_DIGITS,
};
use crate::view::{
    AccountRow, AccountScreen, AccountsScreen, AppView, ButtonView, ChangePinScreen, DigitsInput,
    EnrolScreen, ForgotPinScreen, Notice, RemoveScreen, RequestRow, RequestScreen, ScanScreen,
    Screen, SettingsScreen, TextInput, Tone,
};
use crate::words::{Text, Words, CATALOGUES};

/// The app's version (Settings).
const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Model {
    /// The current view.
    pub(crate) fn view(&self) -> AppView {
        let w = &self.words;
        let enabled = self.busy.is_none();
        let button = |label: String, action: Action| ButtonView {
            a11y: label.clone(),
            label,
            enabled,
            action,
        };
        let back = || Some(button(w.say("back"), Action::Back));
        let (title, screen, back) = match &self.route {
            Route::Accounts => (w.say("accounts-title"), self.accounts_screen(), None),
            Route::Account(id) => match self.account(id) {
                Some(account) => (
                    w.get(
                        &Text::of("account-title").with("service", split_label(&account.label).0),
                    ),
                    self.account_screen(account),
                    back(),
                ),
                None => (w.say("accounts-title"), self.accounts_screen(), None),
            },
            Route::Scan(scan) => {
                let (guidance, tone) = scan.guidance.as_ref().map_or_else(
                    || {
                        // On desktops the code is on a screen or in a file (or, with a webcam,
                        // on another device or paper).
                        let first = match (self.sources.screens, self.sources.webcam) {
                            (true, true) => "scan-point-desktop-webcam",
                            (true, false) => "scan-point-desktop",
                            (false, _) => "scan-point",
                        };
                        (w.say(first), Tone::Info)
                    },
                    |(t, tone)| (w.get(t), *tone),
                );
                (
                    w.say("scan-title"),
                    Screen::Scan(ScanScreen {
                        guidance,
                        tone,
                        camera_a11y: w.say("scan-camera-a11y"),
                        link: TextInput {
                            field: InputField::Link,
                            label: w.say("scan-paste-label"),
                            secret: false,
                            enabled,
                        },
                        use_link: ButtonView {
                            enabled: enabled && !scan.link.trim().is_empty(),
                            ..button(w.say("scan-paste-use"), Action::UseLink)
                        },
                        open_image: self
                            .sources
                            .files
                            .then(|| button(w.say("scan-open-image"), Action::OpenImage)),
                        scan_screens: self.sources.screens.then(|| ButtonView {
                            enabled: enabled && self.capturing.is_none(),
                            ..button(w.say("scan-screens"), Action::ScanScreens)
                        }),
                        paste_image: self.sources.clipboard.then(|| ButtonView {
                            enabled: enabled && self.capturing.is_none(),
                            ..button(w.say("scan-paste-image"), Action::PasteImage)
                        }),
                        webcam: self.sources.webcam.then(|| {
                            let off = scan.webcam == Webcam::Off;
                            button(
                                w.say(if off {
                                    "scan-webcam-start"
                                } else {
                                    "scan-webcam-stop"
                                }),
                                Action::Webcam,
                            )
                        }),
                        camera_view: !self.sources.webcam || scan.webcam == Webcam::On,
                        torch: scan.torch.map(|on| ButtonView {
                            a11y: w.say(if on {
                                "scan-torch-off-a11y"
                            } else {
                                "scan-torch-on-a11y"
                            }),
                            ..button(
                                w.say(if on {
                                    "scan-torch-off"
                                } else {
                                    "scan-torch-on"
                                }),
                                Action::Torch,
                            )
                        }),
                    }),
                    back(),
                )
            }
            Route::Enrol(e) => {
                let (service, account) = split_label(&e.link.label);
                let chosen = e.link.pin_source == PinSource::App;
                let n = e.link.pin_digits;
                let ready =
                    e.pin.len() == n && (!chosen || (e.again.len() == n && e.feedback.is_none()));
                (
                    w.say("enrol-title"),
                    Screen::Enrol(EnrolScreen {
                        who: w.get(
                            &Text::of("enrol-who")
                                .with("service", service)
                                .with("account", account)
                                .with("host", e.link.host().to_owned()),
                        ),
                        instruction: if chosen {
                            w.get(&Text::of("enrol-pin-choose").num("digits", n))
                        } else {
                            w.say("enrol-pin-web")
                        },
                        pin: digits_field(
                            w,
                            InputField::Pin,
                            "enrol-pin-label",
                            &e.pin,
                            n,
                            enabled && !e.done,
                        ),
                        pin_again: chosen.then(|| {
                            digits_field(
                                w,
                                InputField::PinAgain,
                                "enrol-pin-again-label",
                                &e.again,
                                n,
                                enabled && !e.done,
                            )
                        }),
                        feedback: e.feedback.as_ref().map(|t| w.get(t)),
                        submit: ButtonView {
                            enabled: enabled && ready && !e.done,
                            ..button(w.say("enrol-submit"), Action::Submit)
                        },
                        done: e.done.then(|| button(w.say("done"), Action::Done)),
                    }),
                    (!e.done).then(|| button(w.say("cancel"), Action::Back)),
                )
            }
            Route::Request(id) => match self.requests.get(id) {
                Some(r) => (w.say("request-title"), self.request_screen(id, r), back()),
                None => (w.say("accounts-title"), self.accounts_screen(), None),
            },
            Route::ChangePin(c) => {
                let n = self.pin_digits(&c.account);
                let ready = c.old.len() == n
                    && c.new.len() == n
                    && c.again.len() == n
                    && c.feedback.is_none();
                let live = enabled && !c.done;
                (
                    w.say("change-title"),
                    Screen::ChangePin(ChangePinScreen {
                        account: self.account_name(&c.account),
                        old: digits_field(w, InputField::Pin, "change-old", &c.old, n, live),
                        new: digits_field(w, InputField::NewPin, "change-new", &c.new, n, live),
                        again: digits_field(
                            w,
                            InputField::NewPinAgain,
                            "change-again",
                            &c.again,
                            n,
                            live,
                        ),
                        feedback: c.feedback.as_ref().map(|t| w.get(t)),
                        submit: ButtonView {
                            enabled: live && ready,
                            ..button(w.say("change-submit"), Action::Submit)
                        },
                        done: c.done.then(|| button(w.say("done"), Action::Done)),
                    }),
                    (!c.done).then(|| button(w.say("cancel"), Action::Back)),
                )
            }
            Route::Forgot(f) => {
                let n = self.pin_digits(&f.account);
                let live = enabled && !f.done;
                let service = self
                    .account(&f.account)
                    .map_or_else(String::new, |a| split_label(&a.label).0);
                let step_two = f.ticket.is_some();
                let ready = if step_two {
                    f.code.len() == MAILED_CODE_DIGITS
                        && f.new.len() == n
                        && f.again.len() == n
                        && f.feedback.is_none()
                } else {
                    !f.password.is_empty()
                };
                (
                    w.say("forgot-title"),
                    Screen::ForgotPin(ForgotPinScreen {
                        account: self.account_name(&f.account),
                        intro: w.get(&Text::of("forgot-intro").with("service", service)),
                        password: (!step_two).then(|| TextInput {
                            field: InputField::Password,
                            label: w.say("forgot-password"),
                            secret: true,
                            enabled: live,
                        }),
                        code: step_two.then(|| {
                            let mut field = digits_field(
                                w,
                                InputField::MailedCode,
                                "forgot-code",
                                &f.code,
                                MAILED_CODE_DIGITS,
                                live,
                            );
                            field.shown = Some(f.code.as_str().to_owned());
                            field
                        }),
                        new: step_two.then(|| {
                            digits_field(w, InputField::NewPin, "forgot-new", &f.new, n, live)
                        }),
                        again: step_two.then(|| {
                            digits_field(
                                w,
                                InputField::NewPinAgain,
                                "forgot-again",
                                &f.again,
                                n,
                                live,
                            )
                        }),
                        feedback: f.feedback.as_ref().map(|t| w.get(t)),
                        submit: ButtonView {
                            enabled: live && ready,
                            ..button(
                                w.say(if step_two {
                                    "forgot-submit"
                                } else {
                                    "forgot-send"
                                }),
                                Action::Submit,
                            )
                        },
                        done: f.done.then(|| button(w.say("done"), Action::Done)),
                    }),
                    (!f.done).then(|| button(w.say("cancel"), Action::Back)),
                )
            }
            Route::Remove(r) => {
                let n = self.pin_digits(&r.account);
                let name = self.account_name(&r.account);
                (
                    w.say("remove-title"),
                    Screen::Remove(RemoveScreen {
                        intro: w.get(&Text::of("remove-intro").with("account", name.clone())),
                        account: name,
                        pin: digits_field(
                            w,
                            InputField::Pin,
                            "enrol-pin-label",
                            &r.pin,
                            n,
                            enabled,
                        ),
                        submit: ButtonView {
                            enabled: enabled && r.pin.len() == n,
                            ..button(w.say("remove-submit"), Action::Submit)
                        },
                    }),
                    Some(button(w.say("cancel"), Action::Back)),
                )
            }
            Route::Settings => {
                let mut languages = vec![button(
                    w.say("settings-language-system"),
                    Action::SetLanguage { tag: None },
                )];
                for (tag, _) in CATALOGUES {
                    // Each language by its own name, so it can be found whatever is shown.
                    let own = Words::negotiate(&[tag.to_owned()]);
                    languages.push(button(
                        language_name(tag).to_owned(),
                        Action::SetLanguage {
                            tag: Some(own.tag().to_owned()),
                        },
                    ));
                }
                (
                    w.say("settings-title"),
                    Screen::Settings(SettingsScreen {
                        language_label: w.say("settings-language"),
                        languages,
                        about: w.say("settings-about"),
                        version: w.get(&Text::of("settings-version").with("version", VERSION)),
                    }),
                    back(),
                )
            }
        };
        let secure = matches!(
            screen,
            Screen::Scan(_)
                | Screen::Enrol(_)
                | Screen::Request(_)
                | Screen::ChangePin(_)
                | Screen::ForgotPin(_)
                | Screen::Remove(_)
        );
        AppView {
            secure,
            revision: self.revision,
            language: w.tag().to_owned(),
            title,
            screen,
            notice: request_notice(self).or_else(|| {
                self.notice.as_ref().map(|(text, tone)| Notice {
                    text: w.get(text),
                    tone: *tone,
                })
            }),
            busy: self.busy.as_ref().map(|t| w.get(t)),
            back,
        }
    }

    fn pin_digits(&self, id: &RecordId) -> u8 {
        self.account(id).map_or(4, |a| a.pin_digits)
    }

    fn account_name(&self, id: &RecordId) -> String {
        self.account(id)
            .map_or_else(String::new, |a| split_label(&a.label).1)
    }

    fn account_row(&self, account: &Account) -> AccountRow {
        let w = &self.words;
        let (service, name) = split_label(&account.label);
        let host = host_of(&account.server);
        let locked = self.locked.contains(&account.id);
        let pending = u32::try_from(
            self.requests
                .values()
                .filter(|r| r.account == account.id && r.view.is_some() && r.outcome.is_none())
                .count(),
        )
        .unwrap_or(u32::MAX);
        let status = w.say(if locked {
            "account-locked"
        } else if account.state == RecordState::Enrolling {
            "account-enrolling"
        } else {
            "account-active"
        });
        let pending_text =
            (pending > 0).then(|| w.get(&Text::of("account-pending").num("count", pending)));
        let a11y = w.get(
            &Text::of("account-row-a11y")
                .with("service", service.clone())
                .with("account", name.clone())
                .with("host", host.clone())
                .with(
                    "status",
                    match &pending_text {
                        Some(p) => format!("{status}. {p}"),
                        None => status.clone(),
                    },
                ),
        );
        AccountRow {
            id: account.id.as_str().to_owned(),
            service: service.clone(),
            account: name,
            host,
            assurance: w.get(&assurance_text(account.assurance)),
            status,
            locked,
            pending,
            pending_text,
            open: ButtonView {
                label: service,
                a11y,
                enabled: self.busy.is_none(),
                action: Action::OpenAccount {
                    account: account.id.as_str().to_owned(),
                },
            },
        }
    }

    fn accounts_screen(&self) -> Screen {
        let w = &self.words;
        let enabled = self.busy.is_none();
        let mut accounts: Vec<AccountRow> =
            self.accounts.iter().map(|a| self.account_row(a)).collect();
        // Offline accounts say so in their status.
        for (row, account) in accounts.iter_mut().zip(&self.accounts) {
            if self.offline.contains(&account.id) {
                row.status = w.get(&Text::of("offline").with("host", row.host.clone()));
            }
        }
        let check_label = w.say(if self.checking {
            "accounts-checking"
        } else {
            "accounts-check-now"
        });
        Screen::Accounts(AccountsScreen {
            empty: accounts.is_empty().then(|| w.say("accounts-empty")),
            keystore_warning: self
                .sources
                .keys_forgotten_at_reboot
                .then(|| w.say("accounts-keys-forgotten")),
            notifications_warning: self
                .notifications_off
                .then(|| w.say("accounts-notifications-off")),
            accounts,
            add: ButtonView {
                label: w.say("accounts-add"),
                a11y: w.say("accounts-add"),
                enabled,
                action: Action::AddAccount,
            },
            check_now: ButtonView {
                a11y: check_label.clone(),
                label: check_label,
                enabled: enabled && !self.checking && !self.accounts.is_empty(),
                action: Action::CheckNow,
            },
            settings: ButtonView {
                label: w.say("accounts-settings"),
                a11y: w.say("accounts-settings"),
                enabled,
                action: Action::OpenSettings,
            },
        })
    }

    fn account_screen(&self, account: &Account) -> Screen {
        let w = &self.words;
        let enabled = self.busy.is_none();
        let id = account.id.as_str().to_owned();
        let mut waiting: Vec<(&String, &Request)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.account == account.id && r.view.is_some() && r.outcome.is_none())
            .collect();
        waiting.sort_by(|a, b| b.1.seen.cmp(&a.1.seen).then_with(|| a.0.cmp(b.0)));
        let requests: Vec<RequestRow> = waiting
            .into_iter()
            .filter_map(|(challenge, r)| {
                let view = r.view.as_ref()?;
                let text = w.get(
                    &Text::of("account-request-row")
                        .with("browser", view.challenge.browser.clone())
                        .with("time", self.clock_time(view.challenge.created_at)),
                );
                Some(RequestRow {
                    open: ButtonView {
                        label: text.clone(),
                        a11y: text.clone(),
                        enabled,
                        action: Action::OpenRequest {
                            request: challenge.clone(),
                        },
                    },
                    text,
                })
            })
            .collect();
        let active = account.state == RecordState::Active;
        let button = |id_: &'static str, action: Action, on: bool| ButtonView {
            label: w.say(id_),
            a11y: w.say(id_),
            enabled: enabled && on,
            action,
        };
        Screen::Account(AccountScreen {
            account: self.account_row(account),
            none: requests.is_empty().then(|| w.say("account-requests-none")),
            requests,
            change_pin: button(
                "account-change-pin",
                Action::ChangePin {
                    account: id.clone(),
                },
                active && !self.locked.contains(&account.id),
            ),
            forgot_pin: button(
                "account-forgot-pin",
                Action::ForgotPin {
                    account: id.clone(),
                },
                active,
            ),
            remove: button(
                "account-remove",
                Action::RemoveAccount { account: id },
                true,
            ),
        })
    }

    fn request_screen(&self, key: &str, r: &Request) -> Screen {
        let w = &self.words;
        let enabled = self.busy.is_none();
        let Some(view) = &r.view else {
            // Not fetched yet: the loading state.
            return Screen::Request(RequestScreen {
                account: self.account_name(&r.account),
                who: w.say("request-loading"),
                ip: String::new(),
                place: None,
                time: String::new(),
                countdown: String::new(),
                seconds_left: 0,
                code: digits_field(w, InputField::Code, "request-code-label", &r.code, 0, false),
                pin: digits_field(w, InputField::Pin, "request-pin-label", &r.pin, 0, false),
                approve: disabled(
                    w.say("request-approve"),
                    Action::Approve {
                        request: key.to_owned(),
                    },
                ),
                deny: disabled(
                    w.say("request-deny"),
                    Action::Deny {
                        request: key.to_owned(),
                    },
                ),
                not_me: disabled(
                    w.say("request-not-me"),
                    Action::NotMe {
                        request: key.to_owned(),
                    },
                ),
                done: None,
                forgot_pin: None,
            });
        };
        let c = &view.challenge;
        let n = self.pin_digits(&r.account);
        let open = r.outcome.is_none();
        let locked = self.locked.contains(&r.account);
        let seconds_left = u32::try_from(r.deadline.saturating_sub(self.now)).unwrap_or(u32::MAX);
        let live = enabled && open;
        let mut code = digits_field(
            w,
            InputField::Code,
            "request-code-label",
            &r.code,
            c.code_digits,
            live,
        );
        code.shown = Some(r.code.as_str().to_owned());
        let button = |label: String, action: Action, on: bool| ButtonView {
            a11y: label.clone(),
            label,
            enabled: on,
            action,
        };
        let outcome_done = !open;
        Screen::Request(RequestScreen {
            account: self.account_name(&r.account),
            who: w.get(
                &Text::of("request-who")
                    .with("service", c.service.clone())
                    .with("browser", c.browser.clone()),
            ),
            ip: w.get(&Text::of("request-ip").with("ip", c.ip.clone())),
            place: c
                .location
                .as_ref()
                .map(|place| w.get(&Text::of("request-place").with("place", place.clone()))),
            time: w.get(&Text::of("request-time").with("time", self.clock_time(c.created_at))),
            countdown: w.get(&Text::of("request-countdown").num("seconds", seconds_left)),
            seconds_left: if open { seconds_left } else { 0 },
            code,
            pin: digits_field(
                w,
                InputField::Pin,
                "request-pin-label",
                &r.pin,
                n,
                live && !locked,
            ),
            approve: button(
                w.say("request-approve"),
                Action::Approve {
                    request: key.to_owned(),
                },
                live && !locked && r.code.len() == c.code_digits && r.pin.len() == n,
            ),
            deny: button(
                w.say("request-deny"),
                Action::Deny {
                    request: key.to_owned(),
                },
                live,
            ),
            not_me: button(
                w.say("request-not-me"),
                Action::NotMe {
                    request: key.to_owned(),
                },
                live,
            ),
            done: outcome_done.then(|| button(w.say("done"), Action::Done, enabled)),
            forgot_pin: locked.then(|| {
                button(
                    w.say("account-forgot-pin"),
                    Action::ForgotPin {
                        account: r.account.as_str().to_owned(),
                    },
                    enabled,
                )
            }),
        })
    }

    /// Unix seconds as "HH:MM:SS" in the device's time zone.
    fn clock_time(&self, unix: u64) -> String {
        let offset = i64::from(self.utc_offset_minutes) * 60;
        let local = i64::try_from(unix).unwrap_or(0).saturating_add(offset);
        let day = local.rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
    }
}

/// The outcome of the open request, as a notice (the view shows it above the screen).
pub(crate) fn request_notice(model: &Model) -> Option<Notice> {
    let Route::Request(id) = &model.route else {
        return None;
    };
    let (text, tone) = model.requests.get(id)?.outcome.as_ref()?;
    Some(Notice {
        text: model.words.get(text),
        tone: *tone,
    })
}

fn disabled(label: String, action: Action) -> ButtonView {
    ButtonView {
        a11y: label.clone(),
        label,
        enabled: false,
        action,
    }
}

fn digits_field(
    w: &Words,
    field: InputField,
    label: &'static str,
    digits: &Digits,
    length: u8,
    enabled: bool,
) -> DigitsInput {
    let label = w.say(label);
    let erase = w.get(&Text::of("key-erase").with("label", label.clone()));
    DigitsInput {
        field,
        a11y: w.get(
            &Text::of("pin-field-a11y")
                .with("label", label.clone())
                .num("filled", digits.len())
                .num("digits", length),
        ),
        label,
        length,
        filled: digits.len(),
        shown: None,
        erase,
        enabled,
    }
}

/// Each language's name in itself.
fn language_name(tag: &str) -> &'static str {
    match tag {
        "fr" => "Français",
        "de" => "Deutsch",
        _ => "English",
    }
}
