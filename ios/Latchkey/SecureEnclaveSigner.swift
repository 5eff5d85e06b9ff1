// The device key in the Secure Enclave: P-256, made inside it, never exportable, usable only
// while this device is unlocked and never restored to another device. The Secure Enclave
// attests nothing a server could check for this key (App Attest attests an app instance, not
// this key: docs/adr/0012), so the attestation chain is empty and the server shows the
// assurance as claimed.
import Foundation
import Security

final class SecureEnclaveSigner: DeviceSigner, @unchecked Sendable {
    private func tag(_ alias: String) -> Data { Data("org.latchkey.device.\(alias)".utf8) }

    func assurance() -> Assurance { .secureElement }

    func generate(alias: String, attestationChallenge: Data) throws -> GeneratedKey {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly, .privateKeyUsage, &error
        ) else { throw ShellError.Failed(reason: "no access control") }
        let attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecAttrTokenID as String: kSecAttrTokenIDSecureEnclave,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag(alias),
                kSecAttrAccessControl as String: access,
            ],
        ]
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error),
              let publicKey = SecKeyCopyPublicKey(key),
              let sec1 = SecKeyCopyExternalRepresentation(publicKey, &error) as Data?
        else { throw ShellError.Failed(reason: "the Secure Enclave could not make a key") }
        // SEC1 uncompressed point (65 bytes), as the core reads it.
        return GeneratedKey(publicKey: sec1, attestation: [])
    }

    private func key(_ alias: String) throws -> SecKey {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrApplicationTag as String: tag(alias),
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let item else {
            throw ShellError.Missing(reason: "no key \(alias)")
        }
        return item as! SecKey
    }

    func sign(alias: String, message: Data) throws -> Data {
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(
            try key(alias), .ecdsaSignatureMessageX962SHA256, message as CFData, &error
        ) as Data? else { throw ShellError.Failed(reason: "the Secure Enclave could not sign") }
        return signature // DER
    }

    func delete(alias: String) throws {
        let query: [String: Any] = [kSecClass as String: kSecClassKey, kSecAttrApplicationTag as String: tag(alias)]
        let status = SecItemDelete(query as CFDictionary)
        if status != errSecSuccess && status != errSecItemNotFound {
            throw ShellError.Failed(reason: "cannot delete the key (\(status))")
        }
    }
}
