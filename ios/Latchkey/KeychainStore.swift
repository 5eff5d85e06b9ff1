// The core's wrapping keys in the Keychain: readable only while this device is unlocked, never
// synchronised to iCloud nor restored to another device.
import Foundation
import Security

final class KeychainStore: KeyStore, @unchecked Sendable {
    private func query(_ id: String) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: "org.latchkey.wrapping",
            kSecAttrAccount as String: id,
            kSecAttrSynchronizable as String: false,
        ]
    }

    func put(id: String, key: Data) throws {
        SecItemDelete(query(id) as CFDictionary)
        var item = query(id)
        item[kSecValueData as String] = key
        item[kSecAttrAccessible as String] = kSecAttrAccessibleWhenUnlockedThisDeviceOnly
        let status = SecItemAdd(item as CFDictionary, nil)
        guard status == errSecSuccess else { throw ShellError.Failed(reason: "Keychain refused the key (\(status))") }
    }

    func get(id: String) throws -> Data? {
        var item = query(id)
        item[kSecReturnData as String] = true
        var result: CFTypeRef?
        switch SecItemCopyMatching(item as CFDictionary, &result) {
        case errSecSuccess: return result as? Data
        case errSecItemNotFound: return nil
        case errSecInteractionNotAllowed: throw ShellError.Unavailable(reason: "the device is locked")
        case let status: throw ShellError.Failed(reason: "Keychain read failed (\(status))")
        }
    }

    func delete(id: String) throws {
        let status = SecItemDelete(query(id) as CFDictionary)
        if status != errSecSuccess && status != errSecItemNotFound {
            throw ShellError.Failed(reason: "Keychain delete failed (\(status))")
        }
    }
}
