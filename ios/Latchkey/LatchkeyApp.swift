// The iOS shell's entry point: one LatchkeyApp (the app model, in Rust) for the process, APNs
// registration, Universal Links and notification actions handed to it. Nothing here decides:
// every screen, word, timer and step is the app model's.
import SwiftUI
import UIKit
import UserNotifications

@main
struct LatchkeyIOSApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var delegate
    @Environment(\.scenePhase) private var phase

    var body: some Scene {
        WindowGroup {
            ScreenView(shell: Shell.shared)
                // A Universal Link (https://HOST/e#…) read as if scanned.
                .onOpenURL { url in Shell.shared.send(.linkOpened(url: url.absoluteString)) }
                .onContinueUserActivity(NSUserActivityTypeBrowsingWeb) { activity in
                    if let url = activity.webpageURL {
                        Shell.shared.send(.linkOpened(url: url.absoluteString))
                    }
                }
        }
        .onChange(of: phase) { _, now in
            switch now {
            case .active: Shell.shared.send(.foregrounded)
            // iOS stops background work: requests then come by push.
            case .background: Shell.shared.send(.backgrounded(stopPolling: true))
            default: break
            }
        }
    }
}

final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        let center = UNUserNotificationCenter.current()
        center.delegate = self
        center.requestAuthorization(options: [.alert, .sound]) { allowed, _ in
            Shell.shared.send(.notificationsAllowed(allowed: allowed))
        }
        application.registerForRemoteNotifications()
        return true
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken token: Data) {
        let hex = token.map { String(format: "%02x", $0) }.joined()
        Shell.shared.send(.pushTokenChanged(registration: PushRegistration(service: .apns, token: hex, p256dh: nil, auth: nil)))
    }

    func application(_ application: UIApplication, didFailToRegisterForRemoteNotificationsWithError error: Error) {
        Shell.shared.send(.pushTokenChanged(registration: nil))
    }

    /// A silent or visible push: its only datum is the request id.
    func application(
        _ application: UIApplication,
        didReceiveRemoteNotification userInfo: [AnyHashable: Any],
        fetchCompletionHandler done: @escaping (UIBackgroundFetchResult) -> Void
    ) {
        guard let challenge = userInfo["challenge"] as? String else { return done(.noData) }
        Shell.shared.send(.pushReceived(account: nil, challenge: challenge))
        Shell.shared.whenIdle { done(.newData) }
    }

    /// Approve opens the request (the PIN and the number are typed in the app); Deny answers
    /// without opening it.
    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        didReceive response: UNNotificationResponse,
        withCompletionHandler done: @escaping () -> Void
    ) {
        // The app's own notification is named by its request; a push iOS showed itself names
        // the request id alone (the APNs payload's `challenge`).
        let shown = response.notification.request
        let pushed = shown.trigger is UNPushNotificationTrigger
        let request = pushed ? (shown.content.userInfo["challenge"] as? String ?? "") : shown.identifier
        let action: NotificationAction? = response.actionIdentifier == Notifications.deny ? .deny : nil
        Shell.shared.send(.notificationPressed(request: request, action: action))
        Shell.shared.whenIdle(done)
    }

    func userNotificationCenter(
        _ center: UNUserNotificationCenter,
        willPresent notification: UNNotification,
        withCompletionHandler done: @escaping (UNNotificationPresentationOptions) -> Void
    ) {
        // In the foreground the app shows the request itself.
        done([])
    }
}
