//! One function per screen: the view's texts and controls, laid out. Every label, state and
//! accessible name is the view's; pressing a control sends the action it carries.

use eframe::egui::{self, Color32, RichText};
use latchkey_app::{
    AccountRow, AppEvent, AppView, ButtonView, DigitsInput, Notice, Screen, TextInput, Tone,
};
use zeroize::Zeroize as _;

use crate::Shell;

/// Draws the current view and sends what the person did.
pub fn draw(ui: &mut egui::Ui, shell: &mut Shell) {
    shell.perform(ui.ctx());
    shell.placed.clear();
    let view = shell.view();
    let mut events = Vec::new();
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.spacing_mut().item_spacing.y = 8.0;
        let mut form = Form {
            shell: &mut *shell,
            events: &mut events,
        };
        header(ui, &view, &mut form);
        screen(ui, &view, &mut form);
    });
    for event in events {
        shell.send(event);
    }
}

/// What a screen's controls write to while it is drawn.
struct Form<'a> {
    shell: &'a mut Shell,
    events: &'a mut Vec<AppEvent>,
}

fn header(ui: &mut egui::Ui, view: &AppView, form: &mut Form<'_>) {
    ui.horizontal(|ui| {
        if let Some(back) = &view.back {
            button(ui, back, form);
        }
        ui.heading(&view.title);
    });
    if let Some(notice) = &view.notice {
        notice_label(ui, notice);
    }
    if let Some(busy) = &view.busy {
        ui.label(RichText::new(busy).italics());
    }
}

fn notice_label(ui: &mut egui::Ui, notice: &Notice) {
    let color = match notice.tone {
        Tone::Success => Color32::from_rgb(0x2e, 0x7d, 0x32),
        Tone::Warning => Color32::from_rgb(0xb2, 0x6a, 0x00),
        Tone::Error => Color32::from_rgb(0xc6, 0x28, 0x28),
        _ => ui.visuals().text_color(),
    };
    ui.label(RichText::new(&notice.text).color(color).strong());
}

/// A button: its label, its accessible name, enabled or not; a press sends its action.
fn button(ui: &mut egui::Ui, b: &ButtonView, form: &mut Form<'_>) {
    let response = ui
        .add_enabled(b.enabled, egui::Button::new(&b.label))
        .accessible_name(&b.a11y);
    form.shell.placed.push((b.a11y.clone(), response.rect));
    if response.clicked() {
        form.events.push(AppEvent::Press(b.action.clone()));
    }
}

/// A digits field: what is typed goes to the app digit by digit and is wiped at once; the
/// field shows dots (or the digits, when they are not secret).
fn digits(ui: &mut egui::Ui, field: &DigitsInput, form: &mut Form<'_>) {
    ui.label(&field.label);
    ui.horizontal(|ui| {
        let shown = match &field.shown {
            Some(digits) => format!("{digits:_<width$}", width = usize::from(field.length)),
            None => {
                let filled = usize::from(field.filled);
                let empty = usize::from(field.length).saturating_sub(filled);
                format!("{}{}", "•".repeat(filled), "_".repeat(empty))
            }
        };
        let edit = ui
            .add_enabled(
                field.enabled,
                egui::TextEdit::singleline(&mut *form.shell.typed)
                    .desired_width(60.0)
                    .hint_text(shown),
            )
            .accessible_name(&field.a11y);
        form.shell.placed.push((field.a11y.clone(), edit.rect));
        let typed: Vec<u8> = form
            .shell
            .typed
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect();
        form.shell.typed.zeroize();
        form.shell.typed.clear();
        for digit in typed {
            form.events.push(AppEvent::Digit {
                field: field.field,
                digit,
            });
        }
        if edit.has_focus() && ui.input(|i| i.key_pressed(egui::Key::Backspace)) {
            form.events.push(AppEvent::Erase { field: field.field });
        }
        let erase = ui.add_enabled(
            field.enabled && field.filled > 0,
            egui::Button::new(&field.erase).small(),
        );
        if erase.clicked() {
            form.events.push(AppEvent::Erase { field: field.field });
        }
    });
}

/// A text field (a password, a link): egui edits the text in place; each change is sent whole.
fn text(ui: &mut egui::Ui, field: &TextInput, form: &mut Form<'_>) {
    let label = ui.label(&field.label);
    let edit = ui
        .add_enabled(
            field.enabled,
            egui::TextEdit::singleline(&mut *form.shell.text).password(field.secret),
        )
        .labelled_by(label.id);
    form.shell.placed.push((field.label.clone(), edit.rect));
    if edit.changed() {
        form.events.push(AppEvent::Input {
            field: field.field,
            text: form.shell.text.to_string(),
        });
    }
}

fn line(ui: &mut egui::Ui, text: &str) {
    ui.label(text);
}

fn screen(ui: &mut egui::Ui, view: &AppView, form: &mut Form<'_>) {
    match &view.screen {
        Screen::Accounts(s) => {
            for row in &s.accounts {
                account(ui, row, form);
            }
            if let Some(empty) = &s.empty {
                line(ui, empty);
            }
            if let Some(warning) = &s.keystore_warning {
                ui.label(RichText::new(warning).color(Color32::from_rgb(0xb2, 0x6a, 0x00)));
            }
            ui.horizontal_wrapped(|ui| {
                button(ui, &s.add, form);
                button(ui, &s.check_now, form);
                button(ui, &s.settings, form);
            });
        }
        Screen::Account(s) => {
            account(ui, &s.account, form);
            for request in &s.requests {
                button(ui, &request.open, form);
            }
            if let Some(none) = &s.none {
                line(ui, none);
            }
            ui.horizontal_wrapped(|ui| {
                button(ui, &s.change_pin, form);
                button(ui, &s.forgot_pin, form);
                button(ui, &s.remove, form);
            });
        }
        Screen::Scan(s) => {
            let color = if s.tone == Tone::Warning {
                Color32::from_rgb(0xb2, 0x6a, 0x00)
            } else {
                ui.visuals().text_color()
            };
            ui.label(RichText::new(&s.guidance).color(color));
            if s.camera_view {
                if let Some(texture) = form.shell.camera_picture(ui.ctx()) {
                    let picture = ui
                        .add(egui::Image::new(&texture).max_width(400.0))
                        .accessible_name(&s.camera_a11y);
                    form.shell
                        .placed
                        .push((s.camera_a11y.clone(), picture.rect));
                }
            }
            text(ui, &s.link, form);
            button(ui, &s.use_link, form);
            for b in [&s.scan_screens, &s.webcam, &s.paste_image, &s.open_image]
                .into_iter()
                .flatten()
            {
                button(ui, b, form);
            }
        }
        Screen::Enrol(s) => {
            line(ui, &s.who);
            line(ui, &s.instruction);
            digits(ui, &s.pin, form);
            if let Some(again) = &s.pin_again {
                digits(ui, again, form);
            }
            if let Some(feedback) = &s.feedback {
                line(ui, feedback);
            }
            button(ui, &s.submit, form);
            if let Some(done) = &s.done {
                button(ui, done, form);
            }
        }
        Screen::Request(s) => {
            ui.label(RichText::new(&s.who).strong());
            line(ui, &s.account);
            line(ui, &s.ip);
            if let Some(place) = &s.place {
                line(ui, place);
            }
            line(ui, &s.time);
            if s.seconds_left > 0 {
                line(ui, &s.countdown);
                // The countdown moves by itself (the app ticks): draw again each second.
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs(1));
            }
            digits(ui, &s.code, form);
            digits(ui, &s.pin, form);
            ui.horizontal_wrapped(|ui| {
                button(ui, &s.approve, form);
                button(ui, &s.deny, form);
                button(ui, &s.not_me, form);
            });
            if let Some(forgot) = &s.forgot_pin {
                button(ui, forgot, form);
            }
            if let Some(done) = &s.done {
                button(ui, done, form);
            }
        }
        Screen::ChangePin(s) => {
            line(ui, &s.account);
            digits(ui, &s.old, form);
            digits(ui, &s.new, form);
            digits(ui, &s.again, form);
            if let Some(feedback) = &s.feedback {
                line(ui, feedback);
            }
            button(ui, &s.submit, form);
            if let Some(done) = &s.done {
                button(ui, done, form);
            }
        }
        Screen::ForgotPin(s) => {
            line(ui, &s.account);
            line(ui, &s.intro);
            if let Some(password) = &s.password {
                text(ui, password, form);
            }
            for field in [&s.code, &s.new, &s.again].into_iter().flatten() {
                digits(ui, field, form);
            }
            if let Some(feedback) = &s.feedback {
                line(ui, feedback);
            }
            button(ui, &s.submit, form);
            if let Some(done) = &s.done {
                button(ui, done, form);
            }
        }
        Screen::Remove(s) => {
            line(ui, &s.intro);
            digits(ui, &s.pin, form);
            button(ui, &s.submit, form);
        }
        Screen::Settings(s) => {
            line(ui, &s.language_label);
            ui.horizontal_wrapped(|ui| {
                for language in &s.languages {
                    button(ui, language, form);
                }
            });
            line(ui, &s.about);
            line(ui, &s.version);
        }
    }
    // A secret typed into a field that is gone never lingers.
    if !matches!(view.screen, Screen::Scan(_) | Screen::ForgotPin(_)) {
        form.shell.text.zeroize();
        form.shell.text.clear();
    }
}

fn account(ui: &mut egui::Ui, row: &AccountRow, form: &mut Form<'_>) {
    ui.group(|ui| {
        button(ui, &row.open, form);
        line(ui, &row.account);
        line(ui, &row.host);
        let status = if row.locked {
            RichText::new(&row.status).color(Color32::from_rgb(0xc6, 0x28, 0x28))
        } else {
            RichText::new(&row.status)
        };
        ui.label(status);
        line(ui, &row.assurance);
        if let Some(pending) = &row.pending_text {
            ui.label(RichText::new(pending).strong());
        }
    });
}
