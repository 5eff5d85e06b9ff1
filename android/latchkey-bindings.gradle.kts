// Build hook for the Android shell (apply from app/build.gradle.kts when the shell is written:
//   apply(from = "../latchkey-bindings.gradle.kts")
// ). It cross-compiles latchkey-ffi for the device ABIs with cargo-ndk into jniLibs and
// generates the Kotlin bindings with bindings/generate.sh into target/bindings.
// Needs: rustup targets aarch64-linux-android x86_64-linux-android, `cargo install cargo-ndk`,
// ANDROID_NDK_HOME. Not exercised on the CI machine (no Android SDK there); the generated
// Kotlin itself is compiled and tested on the JVM by tests/kotlin/run.sh.

val repoRoot = rootProject.projectDir.parentFile

val latchkeyRustLibs by tasks.registering(Exec::class) {
    group = "latchkey"
    description = "Cross-compiles latchkey-ffi (release-ffi profile) into src/main/jniLibs"
    workingDir = repoRoot
    // Identical code folding with the NDK's lld (see bindings/generate.sh).
    environment("RUSTFLAGS", "-C link-arg=-Wl,--icf=all")
    commandLine(
        "cargo", "ndk", "-t", "arm64-v8a", "-t", "x86_64",
        "-o", file("src/main/jniLibs").absolutePath,
        "build", "--profile", "release-ffi", "-p", "latchkey-ffi",
    )
}

val latchkeyBindings by tasks.registering(Exec::class) {
    group = "latchkey"
    description = "Generates the Kotlin bindings into target/bindings"
    workingDir = repoRoot
    commandLine("bash", "bindings/generate.sh", "--release")
    dependsOn(latchkeyRustLibs)
}

extensions.configure<com.android.build.gradle.AppExtension>("android") {
    sourceSets["main"].java.srcDir(File(repoRoot, "target/bindings"))
}

tasks.named("preBuild") { dependsOn(latchkeyBindings) }

dependencies {
    // The generated code calls the library through JNA; the AAR flavour ships its .so files.
    add("implementation", "net.java.dev.jna:jna:5.13.0@aar")
    add("implementation", "org.jetbrains.kotlinx:kotlinx-coroutines-android:1.8.0")
}
