#!/usr/bin/env bash
# Compiles the generated Kotlin bindings and the JUnit suite with kotlinc, then runs it on the
# JVM against target/debug/latchkey-server. Needs bindings/generate.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/../.."
kotlinc=tools/kt/node_modules/kotlin-compiler/bin/kotlinc
lib=tools/kt/node_modules/kotlin-compiler/lib
jars=/usr/share/java/jna.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest.jar
cp_run="$lib/kotlin-stdlib.jar:$lib/kotlinx-coroutines-core-jvm.jar:$jars"
out=target/kotlin-tests
rm -rf "$out" && mkdir -p "$out"
echo "kotlinc: generated bindings + tests/kotlin"
"$kotlinc" -jvm-target 17 -nowarn -cp "$lib/kotlinx-coroutines-core-jvm.jar:$jars" \
    target/bindings/uniffi/latchkey/latchkey.kt tests/kotlin/*.kt \
    android/app/src/main/kotlin/org/latchkey/android/core/*.kt -d "$out" 2>&1 \
    | grep -v '^warning: unable to find kotlin-stdlib.jar' || true
[[ -f "$out/latchkey/test/MainKt.class" ]] || { echo "kotlinc failed" >&2; exit 1; }
java -Djna.library.path=target/bindings -Djava.net.preferIPv4Stack=true \
    -Dlatchkey.server=target/debug/latchkey-server \
    -cp "$out:$cp_run" latchkey.test.MainKt
