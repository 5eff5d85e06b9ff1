// Test support for the Kotlin suite: the real `latchkey-server --dev` as a child process, a
// browser made of java.net.http, and the shell side of the bindings written in Kotlin: a
// KeyStore (a map, as an app would keep Keystore-wrapped blobs) and a DeviceSigner on
// java.security EC P-256 + SHA256withECDSA, the same shape as Android Keystore.
package latchkey.test

import java.io.File
import java.net.ServerSocket
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.cert.CertificateFactory
import java.security.spec.ECGenParameterSpec
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import uniffi.latchkey.Assurance
import uniffi.latchkey.DeviceSigner
import uniffi.latchkey.GeneratedKey
import uniffi.latchkey.KeyStore
import uniffi.latchkey.Platform
import uniffi.latchkey.ShellException

/** `latchkey-server --dev` on a free loopback port, with its own data directory. */
class DevServer(binary: String) : AutoCloseable {
    val dataDir: File = Files.createTempDirectory("latchkey-kt-server").toFile()
    val url: String
    val caPem: String
    private val process: Process

    init {
        val port = ServerSocket(0).use { it.localPort }
        process = ProcessBuilder(
            binary, "--dev", "--data-dir", dataDir.path, "--listen", "127.0.0.1:$port",
        ).redirectErrorStream(false).redirectError(File(dataDir, "server.log")).start()
        val out = process.inputStream.bufferedReader()
        var url: String? = null
        var ca: String? = null
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30)
        while ((url == null || ca == null) && System.nanoTime() < deadline) {
            val line = out.readLine() ?: break
            if (line.startsWith("Latchkey server listening on ")) url = line.removePrefix("Latchkey server listening on ")
            if (line.startsWith("Development CA: ")) ca = line.removePrefix("Development CA: ")
        }
        check(url != null && ca != null) { "the server did not start; see ${dataDir}/server.log" }
        this.url = url
        this.caPem = File(ca).readText()
        Thread { out.forEachLine { } }.apply { isDaemon = true }.start()
    }

    /** The 8-digit code of the newest "reset your PIN" mail in the dev outbox. */
    fun resetCode(): String {
        val mails = File(dataDir, "outbox").listFiles()!!.sortedByDescending { it.name }
        val mail = mails.map { it.readText() }.first { it.contains("reset your PIN") }
        return mail.lines().map { it.trim() }.first { it.length == 8 && it.all(Char::isDigit) }
    }

    /** The token of the newest "finish creating your account" link mailed to [email]. */
    fun registrationToken(email: String): String {
        val mails = File(dataDir, "outbox").listFiles()!!.sortedByDescending { it.name }
        val mail = mails.map { it.readText() }.first { it.contains("finish creating your account") && it.contains(email) }
        return mail.lines().map { it.trim() }.first { it.contains("/register/finish?t=") }.substringAfter("?t=")
    }

    override fun close() {
        process.destroy()
        process.waitFor(10, TimeUnit.SECONDS)
    }
}

/** A person in a browser: cookies, CSRF tokens, no redirects followed. */
class Browser(private val server: DevServer) {
    private val http: HttpClient = HttpClient.newBuilder()
        .sslContext(sslContext(server.caPem))
        .followRedirects(HttpClient.Redirect.NEVER)
        .build()

    // A cookie jar by hand: java.net.CookieManager will not keep host-only cookies for
    // "localhost" (its domain check wants a dot).
    private val cookies = ConcurrentHashMap<String, String>()

    private fun send(builder: HttpRequest.Builder): HttpResponse<String> {
        if (cookies.isNotEmpty()) builder.header("Cookie", cookies.entries.joinToString("; ") { "${it.key}=${it.value}" })
        val r = http.send(builder.build(), HttpResponse.BodyHandlers.ofString())
        for (header in r.headers().allValues("set-cookie")) {
            val (name, value) = header.substringBefore(';').split('=', limit = 2)
            if (header.contains("Max-Age=0")) cookies.remove(name) else cookies[name] = value
        }
        return r
    }

    fun get(path: String): HttpResponse<String> =
        send(HttpRequest.newBuilder(URI.create(server.url + path.trimStart('/'))).GET())

    fun post(path: String, vararg form: Pair<String, String>): HttpResponse<String> {
        val body = form.joinToString("&") { (k, v) -> k + "=" + URLEncoder.encode(v, "UTF-8") }
        return send(
            HttpRequest.newBuilder(URI.create(server.url + path.trimStart('/')))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(body)),
        )
    }

    /** Registers, then opens the link mailed to the address and presses "Create my account". */
    fun register(email: String, password: String) {
        val token = csrf(get("/register").body())
        val r = post("/register", "csrf" to token, "email" to email, "password" to password, "password2" to password)
        check(r.statusCode() == 200 && r.body().contains("Check your e-mail")) { "register: ${r.statusCode()} ${r.body()}" }
        val link = server.registrationToken(email)
        val page = get("/register/finish?t=$link").body()
        val done = post("/register/finish", "csrf" to csrf(page), "t" to link)
        check(done.statusCode() == 303) { "register/finish: ${done.statusCode()} ${done.body()}" }
    }

    /** Adds a device with the PIN set on the web page; returns the QR page's HTML. */
    fun addDevice(name: String, pin: String): String {
        val token = csrf(get("/devices/add").body())
        val r = post("/devices/add", "csrf" to token, "name" to name, "pin" to pin, "pin2" to pin)
        check(r.statusCode() == 303) { "add device: ${r.statusCode()} ${r.body()}" }
        return get(r.headers().firstValue("location").get()).body()
    }

    /** Signs in with the password; returns the number the login page shows. */
    fun signIn(email: String, password: String): String {
        val token = csrf(get("/login").body())
        val r = post("/login", "csrf" to token, "email" to email, "password" to password)
        check(r.headers().firstValue("location").orElse("") == "/login/approve") { "sign in: ${r.statusCode()}" }
        val page = get("/login/approve").body()
        return between(page, "<p class=\"code\" aria-describedby=\"code-label\">", "</p>")
    }

    /** Where the waiting login page sends the browser now ("/account" once approved). */
    fun approvalRedirect(): String = get("/login/approve").headers().firstValue("location").orElse("")

    companion object {
        fun csrf(html: String): String = between(html, "name=\"csrf\" value=\"", "\"")
        fun between(text: String, start: String, end: String): String {
            val at = text.indexOf(start)
            check(at >= 0) { "$start not in page" }
            val from = at + start.length
            return text.substring(from, text.indexOf(end, from))
        }
    }
}

fun sslContext(caPem: String): SSLContext {
    val cert = CertificateFactory.getInstance("X.509").generateCertificate(caPem.byteInputStream())
    val trust = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType())
    trust.load(null, null)
    trust.setCertificateEntry("latchkey-dev-ca", cert)
    val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm())
    tmf.init(trust)
    return SSLContext.getInstance("TLS").apply { init(null, tmf.trustManagers, null) }
}

/**
 * A camera frame of the add-device page's QR code: the SVG's squares painted black on a
 * white luma plane, placed inside a larger frame whose rows are padded (stride > width),
 * as Android's ImageProxy delivers them.
 */
class LumaFrame(val luma: ByteArray, val width: Int, val height: Int, val stride: Int)

fun qrFrameFromPage(html: String): LumaFrame {
    val svg = Browser.between(html, "<figure class=\"qr\">", "</figure>")
    val w = Browser.between(svg, "width=\"", "\"").toInt()
    val h = Browser.between(svg, "height=\"", "\"").toInt()
    val (fw, fh, stride, ox, oy) = listOf(w + 200, h + 120, w + 256, 100, 60)
    val luma = ByteArray(stride * fh) { 0xE0.toByte() } // a light grey "screen"
    for (y in 0 until h) for (x in 0 until w) luma[(oy + y) * stride + ox + x] = 0xFF.toByte()
    val d = Browser.between(svg, " d=\"", "\"")
    Regex("""M(\d+) (\d+)h(\d+)v(\d+)""").findAll(d).forEach { m ->
        val (x, y, rw, rh) = m.destructured.toList().map(String::toInt)
        for (yy in y until y + rh) for (xx in x until x + rw) luma[(oy + yy) * stride + ox + xx] = 0x10
    }
    return LumaFrame(luma, fw, fh, stride)
}

/** Wrapping keys in memory, as an app keeps Keystore-wrapped blobs in its preferences. */
class MapKeyStore : KeyStore {
    val keys = ConcurrentHashMap<String, ByteArray>()
    override fun put(id: String, key: ByteArray) { keys[id] = key.copyOf() }
    override fun get(id: String): ByteArray? = keys[id]?.copyOf()
    override fun delete(id: String) { keys.remove(id) }
}

/**
 * Device keys made and used by java.security (EC P-256, SHA256withECDSA): the key never
 * crosses into Rust, only public keys and signatures do — exactly what an Android Keystore
 * or Secure Enclave signer does. It reports HARDWARE to exercise that path.
 */
class JavaSigner : DeviceSigner {
    val keys = ConcurrentHashMap<String, KeyPair>()
    val signatures = AtomicInteger()
    var failWith: ShellException? = null

    override fun assurance() = Assurance.HARDWARE

    /** The attestation challenges asked for (an Android signer passes each to Keystore). */
    val challenges = java.util.concurrent.CopyOnWriteArrayList<ByteArray>()

    override fun generate(alias: String, attestationChallenge: ByteArray): GeneratedKey {
        challenges.add(attestationChallenge)
        val gen = KeyPairGenerator.getInstance("EC")
        gen.initialize(ECGenParameterSpec("secp256r1"))
        val pair = gen.generateKeyPair()
        keys[alias] = pair
        // X.509 SubjectPublicKeyInfo, as Android returns it; java.security attests nothing.
        return GeneratedKey(pair.public.encoded, emptyList())
    }

    override fun sign(alias: String, message: ByteArray): ByteArray {
        failWith?.let { throw it }
        val pair = keys[alias] ?: throw ShellException.Missing("no key $alias")
        signatures.incrementAndGet()
        return java.security.Signature.getInstance("SHA256withECDSA").run {
            initSign(pair.private)
            update(message)
            sign() // DER
        }
    }

    override fun delete(alias: String) { keys.remove(alias) }
}

class TestPlatform(private val screenLock: Boolean = true) : Platform {
    override fun hasScreenLock() = screenLock
    override fun deviceModel() = "JVM test phone"
}

/**
 * Runs [block], which must throw a [T]; returns it for further checks. Inline, so [block] may
 * call the bindings' suspend functions from a test's `runBlocking`.
 */
inline fun <reified T : Throwable> expectThrows(what: String, block: () -> Any?): T {
    try {
        block()
    } catch (e: Throwable) {
        if (e is T) return e
        throw AssertionError("$what: expected ${T::class.simpleName}, got $e", e)
    }
    throw AssertionError("$what: expected ${T::class.simpleName}, nothing was thrown")
}
