// The app. `latchkeyHost`: the server whose enrolment links open the app (App Links); a build
// for several deployments lists them in the manifest instead. The Rust library and the Kotlin
// bindings come from ../latchkey-bindings.gradle.kts (cargo-ndk).
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.latchkey.android"
    compileSdk = 36
    defaultConfig {
        applicationId = "org.latchkey.android"
        // 28: StrongBox, key attestation with setIsStrongBoxBacked, accessibility headings.
        minSdk = 28
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        manifestPlaceholders["latchkeyHost"] = (project.findProperty("latchkeyHost") as String?) ?: "latchkey.example.org"
    }
    sourceSets["main"].java.srcDir("src/main/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    buildTypes {
        release {
            isMinifyEnabled = true
            // JNA and the generated bindings are called by name from native code.
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }
}

apply(from = "../latchkey-bindings.gradle.kts")

dependencies {
    // The same versions test.sh compiles against (tools/android/classpath.sh).
    implementation("org.unifiedpush.android:connector:3.1.2")
    implementation("com.google.firebase:firebase-messaging:26.0.1")
}
