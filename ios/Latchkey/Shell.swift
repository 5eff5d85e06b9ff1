// The app model's listener: views to SwiftUI (on the main thread, newest wins), effects to the
// platform. Its keystore, signer and platform are the Keychain, the Secure Enclave and
// LocalAuthentication.
import Foundation
import UIKit

final class Shell: ObservableObject, AppListener, @unchecked Sendable {
    static let shared = Shell()

    @Published private(set) var view: AppView?
    private(set) var app: LatchkeyApp!
    let camera = Camera()

    private init() {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
            .appendingPathComponent("latchkey", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Never in backups: the keys are bound to this phone's Secure Enclave and Keychain.
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        var url = dir
        try? url.setResourceValues(values)
        do {
            app = try LatchkeyApp(
                config: Config(dataDir: dir.path),
                keystore: KeychainStore(),
                signer: SecureEnclaveSigner(),
                platform: IOSPlatform(),
                languages: Locale.preferredLanguages,
                utcOffsetMinutes: Int32(TimeZone.current.secondsFromGMT() / 60),
                listener: self
            )
        } catch {
            fatalError("the app's data cannot be opened: \(error)")
        }
        camera.app = app
        app.send(event: .started)
    }

    func send(_ event: AppEvent) { app.send(event: event) }

    /// Runs `done` once the app has no work in flight (a push's or a notification action's
    /// answer sent), off the main thread.
    func whenIdle(_ done: @escaping () -> Void) {
        DispatchQueue.global().async {
            self.app.idle()
            done()
        }
    }

    func viewChanged(view: AppView) {
        DispatchQueue.main.async {
            if let shown = self.view, shown.revision >= view.revision { return }
            self.view = view
        }
    }

    func perform(effect: AppEffect) {
        DispatchQueue.main.async {
            switch effect {
            case let .notify(request, title, body, publicBody, approve, deny, _):
                Notifications.show(request: request, title: title, body: body, hidden: publicBody, approve: approve, deny: deny)
            case let .notificationActions(approve, deny, publicBody):
                // Before any push: iOS shows a push itself while the app is not running, with
                // this category's actions (the server's APNs alert names it).
                Notifications.registerCategories(approveLabel: approve, denyLabel: deny, hidden: publicBody)
            case let .cancelNotification(request):
                Notifications.cancel(request: request)
            case .openCamera:
                self.camera.open()
            case .closeCamera:
                self.camera.close()
            case let .setTorch(on):
                self.camera.torch(on)
            case let .vibrate(pattern):
                let feedback = UINotificationFeedbackGenerator()
                switch pattern {
                case .success: feedback.notificationOccurred(.success)
                case .failure: feedback.notificationOccurred(.error)
                case .attention: feedback.notificationOccurred(.warning)
                }
            case let .openUrl(url):
                if let url = URL(string: url) { UIApplication.shared.open(url) }
            // Desktops only: a phone scans with its camera.
            case .pickImage, .captureScreens, .readClipboardImage:
                break
            }
        }
    }
}
