// The device key in the Secure Enclave: P-256, made inside it, never exportable, usable only
// while this device is unlocked and never restored to another device. The Secure Enclave
// attests nothing a server could check for this key; App Attest attests this app instead
// (docs/adr/0012): at enrolment a new App Attest key attests the client data the Rust core
// binds to this enrolment and this device key (`appAttestClientDataHash`), so the server can
// show the device as enrolled by the genuine app. Where App Attest is missing or fails, the
// key is sent without it and the server shows the assurance as claimed.
import DeviceCheck
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
        return GeneratedKey(
            publicKey: sec1, attestation: [],
            appAttest: attestationChallenge.isEmpty ? nil : appAttest(challenge: attestationChallenge, publicKey: sec1)
        )
    }

    /// App Attest over this enrolment and this key, or nil where the device cannot (older
    /// devices, the simulator, Apple's service unreachable). Called on the core's worker
    /// thread, never the main thread, so waiting for the completion handlers is safe.
    private func appAttest(challenge: Data, publicKey: Data) -> AppAttestation? {
        let service = DCAppAttestService.shared
        guard service.isSupported,
              let clientDataHash = appAttestClientDataHash(attestationChallenge: challenge, publicKey: publicKey)
        else { return nil }
        // Apple's service can stall: enrolment goes on without App Attest after 20 s.
        let done = DispatchSemaphore(value: 0)
        var keyId: String?
        service.generateKey { id, _ in keyId = id; done.signal() }
        guard done.wait(timeout: .now() + 20) == .success,
              let keyId, let keyIdBytes = Data(base64Encoded: keyId) else { return nil }
        // One retry with the same key when Apple's server was unavailable, as Apple advises.
        for _ in 0..<2 {
            var object: Data?
            var unavailable = false
            service.attestKey(keyId, clientDataHash: clientDataHash) { attestation, error in
                object = attestation
                unavailable = (error as? DCError)?.code == .serverUnavailable
                done.signal()
            }
            guard done.wait(timeout: .now() + 20) == .success else { return nil }
            if let object { return AppAttestation(keyId: keyIdBytes, object: object) }
            if !unavailable { return nil }
        }
        return nil
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
