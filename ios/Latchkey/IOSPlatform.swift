// Is a passcode set (a PIN is no use on a phone anyone can open), and the device's name for the
// account's devices page.
import LocalAuthentication
import UIKit

final class IOSPlatform: Platform, @unchecked Sendable {
    func hasScreenLock() -> Bool {
        LAContext().canEvaluatePolicy(.deviceOwnerAuthentication, error: nil)
    }

    func deviceModel() -> String {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return "\(UIDevice.current.model) (\(machine))"
    }
}
