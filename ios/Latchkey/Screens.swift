// The app model's screens in SwiftUI, in the same order as the desktop and Android shells.
// Every text, state, accessible name and action is the view's; a tap or a typed digit goes to
// the app as an event. Screens that take secrets are covered when the app leaves the
// foreground (`secure`), so the app switcher never shows a PIN or a code.
import SwiftUI

struct ScreenView: View {
    @ObservedObject var shell: Shell
    @Environment(\.scenePhase) private var phase

    var body: some View {
        if let view = shell.view {
            NavigationStack {
                ScrollView {
                    VStack(alignment: .leading, spacing: 12) {
                        if let notice = view.notice {
                            Text(notice.text).bold().foregroundStyle(color(notice.tone))
                                .accessibilityAddTraits(.updatesFrequently)
                        }
                        if let busy = view.busy {
                            HStack { ProgressView(); Text(busy) }
                        }
                        screen(view.screen)
                    }
                    .padding()
                }
                .navigationTitle(view.title)
                .toolbar {
                    if let back = view.back {
                        ToolbarItem(placement: .topBarLeading) { button(back) }
                    }
                }
            }
            .overlay {
                if view.secure && phase != .active {
                    Color(uiColor: .systemBackground).ignoresSafeArea()
                }
            }
        } else {
            ProgressView()
        }
    }

    @ViewBuilder private func screen(_ screen: Screen) -> some View {
        switch screen {
        case let .accounts(s):
            ForEach(s.accounts, id: \.id) { account($0) }
            if let empty = s.empty { Text(empty) }
            if let warning = s.keystoreWarning { Text(warning).foregroundStyle(color(.warning)) }
            if let warning = s.notificationsWarning { Text(warning).foregroundStyle(color(.warning)) }
            button(s.add); button(s.checkNow); button(s.settings)
        case let .account(s):
            account(s.account)
            ForEach(s.requests, id: \.text) { button($0.open) }
            if let none = s.none { Text(none) }
            button(s.changePin); button(s.forgotPin); button(s.remove)
        case let .scan(s):
            CameraPreview(camera: shell.camera).frame(height: 280).accessibilityLabel(s.cameraA11y)
            Text(s.guidance).foregroundStyle(color(s.tone))
            if let torch = s.torch { button(torch) }
            field(s.link)
            button(s.useLink)
        case let .enrol(s):
            Text(s.who); Text(s.instruction)
            digits(s.pin)
            if let again = s.pinAgain { digits(again) }
            if let feedback = s.feedback { Text(feedback) }
            button(s.submit)
            if let done = s.done { button(done) }
        case let .request(s):
            Text(s.who).bold()
            Text(s.account); Text(s.ip)
            if let place = s.place { Text(place) }
            Text(s.time)
            if s.secondsLeft > 0 { Text(s.countdown).monospacedDigit() }
            digits(s.code); digits(s.pin)
            button(s.approve); button(s.deny); button(s.notMe)
            if let forgot = s.forgotPin { button(forgot) }
            if let done = s.done { button(done) }
        case let .changePin(s):
            Text(s.account)
            digits(s.old); digits(s.new); digits(s.again)
            if let feedback = s.feedback { Text(feedback) }
            button(s.submit)
            if let done = s.done { button(done) }
        case let .forgotPin(s):
            Text(s.account); Text(s.intro)
            if let password = s.password { field(password) }
            ForEach([s.code, s.new, s.again].compactMap { $0 }, id: \.field) { digits($0) }
            if let feedback = s.feedback { Text(feedback) }
            button(s.submit)
            if let done = s.done { button(done) }
        case let .remove(s):
            Text(s.intro)
            digits(s.pin)
            button(s.submit)
        case let .settings(s):
            Text(s.languageLabel)
            ForEach(s.languages, id: \.label) { button($0) }
            Text(s.about); Text(s.version)
        }
    }

    private func account(_ row: AccountRow) -> some View {
        VStack(alignment: .leading, spacing: 4) {
            button(row.open)
            Text(row.account); Text(row.host)
            Text(row.status).foregroundStyle(row.locked ? color(.error) : .primary)
            Text(row.assurance)
            if let pending = row.pendingText { Text(pending).bold() }
        }
        .padding(.vertical, 8)
    }

    private func button(_ b: ButtonView) -> some View {
        Button(b.label) { shell.send(.press(b.action)) }
            .disabled(!b.enabled)
            .accessibilityLabel(b.a11y)
    }

    private func digits(_ input: DigitsInput) -> some View {
        DigitsField(input: input) { shell.send($0) }
    }

    private func field(_ input: TextInput) -> some View {
        TextFieldView(input: input) { shell.send($0) }
    }

    private func color(_ tone: Tone) -> Color {
        switch tone {
        case .success: return .green
        case .warning: return .orange
        case .error: return .red
        case .info: return .primary
        }
    }
}

/// A digits field: the boxes show dots (or the digits when not secret); each digit typed goes
/// to the app at once and nothing is kept here.
struct DigitsField: View {
    let input: DigitsInput
    let send: (AppEvent) -> Void
    @State private var typing = ""

    var body: some View {
        VStack(alignment: .leading) {
            Text(input.label)
            HStack {
                Text(boxes).font(.title).monospaced().accessibilityHidden(true)
                SecureField("", text: $typing)
                    .keyboardType(.numberPad)
                    .textContentType(.oneTimeCode)
                    .accessibilityLabel(input.a11y)
                    .disabled(!input.enabled)
                    .onChange(of: typing) { _, now in
                        guard !now.isEmpty else { return }
                        let digits = now.compactMap { $0.wholeNumberValue }
                        typing = ""
                        digits.forEach { send(.digit(field: input.field, digit: UInt8($0))) }
                    }
                Button(input.erase) { send(.erase(field: input.field)) }
                    .disabled(!input.enabled || input.filled == 0)
            }
        }
    }

    private var boxes: String {
        let length = Int(input.length)
        if let shown = input.shown { return shown.padding(toLength: length, withPad: "_", startingAt: 0) }
        let filled = Int(input.filled)
        return String(repeating: "•", count: filled) + String(repeating: "_", count: max(0, length - filled))
    }
}

/// A text field (a password, a pasted link); each change goes to the app whole.
struct TextFieldView: View {
    let input: TextInput
    let send: (AppEvent) -> Void
    @State private var text = ""

    var body: some View {
        VStack(alignment: .leading) {
            Text(input.label)
            Group {
                if input.secret { SecureField(input.label, text: $text) } else {
                    TextField(input.label, text: $text).textInputAutocapitalization(.never).keyboardType(.URL)
                }
            }
            .disabled(!input.enabled)
            .onChange(of: text) { _, now in send(.input(field: input.field, text: now)) }
        }
    }
}
