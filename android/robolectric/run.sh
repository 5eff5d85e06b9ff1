#!/usr/bin/env bash
# Runs android/robolectric/ShellTest.kt: the shell's activity under Robolectric 4.17 (resolved
# from Maven Central by android/robolectric/pom.xml, cached), against android-all-instrumented
# 16 and the real Rust library through JNA. Needs android/check.sh to have compiled the shell
# (target/android-classes) and bindings/generate.sh (target/bindings).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${LATCHKEY_CACHE:-$HOME/.cache/latchkey}/android"
deps="$cache/robolectric-4.17"
if [[ ! -f "$deps/.complete" ]]; then
    echo "resolving Robolectric 4.17 from Maven Central"
    rm -rf "$deps" && mkdir -p "$deps"
    mvn -q -f android/robolectric/pom.xml dependency:copy-dependencies -DoutputDirectory="$deps"
    for aar in "$deps"/*.aar; do
        [[ -e "$aar" ]] || continue
        unzip -p "$aar" classes.jar >"${aar%.aar}.jar"
        rm "$aar"
    done
    touch "$deps/.complete"
fi
instrumented="$cache/android-all-instrumented-16-robolectric-13921718-i7.jar"
if [[ ! -s "$instrumented" ]]; then
    echo "fetching android-all-instrumented 16 from Maven Central"
    curl -sSfL --retry 3 -o "$instrumented.part" \
        "https://repo.maven.apache.org/maven2/org/robolectric/android-all-instrumented/16-robolectric-13921718-i7/$(basename "$instrumented")"
    mv "$instrumented.part" "$instrumented"
fi
kotlinc=tools/kt/node_modules/kotlin-compiler/bin/kotlinc
lib=tools/kt/node_modules/kotlin-compiler/lib
out=target/android-robolectric
rm -rf "$out" && mkdir -p "$out"
robo="$(ls "$deps"/*.jar | tr '\n' ':')"
android_all="$cache/android-all-16-robolectric-13921718.jar"
shell_cp="target/android-classes:$(cat target/android-classes.classpath)"
echo "kotlinc: android/robolectric/ShellTest.kt"
"$kotlinc" -jvm-target 17 -nowarn -cp "$robo$shell_cp:$android_all" android/robolectric/ShellTest.kt -d "$out" 2>&1 \
    | grep -v '^warning: unable to find kotlin-stdlib.jar' || true
[[ -f "$out/org/latchkey/android/ShellTest.class" ]] || { echo "kotlinc failed" >&2; exit 1; }
# android-all 16 is Java 21 bytecode: the first JDK 21+ of JAVA_HOME, Temurin 25, /usr/lib/jvm.
java=""
for home in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25* /usr/lib/jvm/*21*; do
    [[ -n "$home" && -x "$home/bin/java" ]] || continue
    major=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [[ -n "$major" ]] && ((major >= 21)); then java="$home/bin/java"; break; fi
done
[[ -n "$java" ]] || { echo "error: Robolectric with android-all 16 needs Java 21 or newer (none in JAVA_HOME or /usr/lib/jvm)" >&2; exit 1; }
"$java" --enable-native-access=ALL-UNNAMED --add-exports java.base/jdk.internal.access=ALL-UNNAMED \
    --add-opens java.base/java.io=ALL-UNNAMED --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.access=ALL-UNNAMED -Djna.library.path=target/bindings -Drobolectric.offline=true -Drobolectric.dependency.dir="$cache" \
    -cp "$out:$robo$shell_cp:$lib/kotlin-stdlib.jar:$android_all" org.junit.runner.JUnitCore org.latchkey.android.ShellTest
