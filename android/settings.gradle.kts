// The Latchkey Android shell. Open this folder in Android Studio (android/README.md).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "latchkey-android"
include(":app")
