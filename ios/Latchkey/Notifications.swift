// Sign-in notifications as the app model words them, with Approve (opens the request: the PIN
// and the number are typed in the app) and Deny (answered without opening it). Previews on the
// lock screen follow the person's setting; the hidden text is the app's `publicBody`.
import UserNotifications

enum Notifications {
    static let category = "org.latchkey.signin"
    static let approve = "org.latchkey.approve"
    static let deny = "org.latchkey.deny"

    /// The category's actions take the labels of the notification being shown (the app's words,
    /// in its language): registered again before each one.
    static func registerCategories(approveLabel: String, denyLabel: String, hidden: String) {
        let open = UNNotificationAction(identifier: approve, title: approveLabel, options: [.foreground, .authenticationRequired])
        let no = UNNotificationAction(identifier: deny, title: denyLabel, options: [.destructive, .authenticationRequired])
        let signin = UNNotificationCategory(
            identifier: category, actions: [open, no], intentIdentifiers: [],
            hiddenPreviewsBodyPlaceholder: hidden, options: []
        )
        UNUserNotificationCenter.current().setNotificationCategories([signin])
    }

    static func show(request: String, title: String, body: String, hidden: String, approve: String, deny: String) {
        registerCategories(approveLabel: approve, denyLabel: deny, hidden: hidden)
        let content = UNMutableNotificationContent()
        content.title = title
        content.body = body
        content.categoryIdentifier = category
        content.interruptionLevel = .timeSensitive
        UNUserNotificationCenter.current().add(UNNotificationRequest(identifier: request, content: content, trigger: nil))
    }

    static func cancel(request: String) {
        let center = UNUserNotificationCenter.current()
        center.removeDeliveredNotifications(withIdentifiers: [request])
        center.removePendingNotificationRequests(withIdentifiers: [request])
        // A push iOS showed itself is named by the request id alone (the key's last part).
        let challenge = request.split(separator: "/").last.map(String.init) ?? request
        center.getDeliveredNotifications { shown in
            let pushed = shown.filter { ($0.request.content.userInfo["challenge"] as? String) == challenge }
            center.removeDeliveredNotifications(withIdentifiers: pushed.map { $0.request.identifier })
        }
    }
}
