#!/usr/bin/env bash
# Compiles the whole Android shell (android/app/src/main/kotlin) and the generated bindings with
# kotlinc against the Android framework as a JVM jar (Robolectric's android-all, API 36) and
# the classes of the two push libraries, all from Maven Central (cached in
# ~/.cache/latchkey/android). No Android SDK, Gradle or R class is needed: the shell uses no
# resources from code. What this cannot do (dex, package, run on a phone) is android/README.md's.
# Needs bindings/generate.sh to have run (target/bindings).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${LATCHKEY_CACHE:-$HOME/.cache/latchkey}/android"
mkdir -p "$cache"
central=https://repo.maven.apache.org/maven2
fetch() { # group/path artifact version ext
    local file="$cache/$2-$3.$4"
    if [[ ! -s "$file" ]]; then
        echo "fetching $2 $3 from Maven Central"
        curl -sSfL --retry 3 -o "$file.part" "$central/$1/$2/$3/$2-$3.$4"
        mv "$file.part" "$file"
    fi
    if [[ "$4" == aar ]]; then
        if [[ ! -s "$file.classes.jar" ]]; then
            unzip -p "$file" classes.jar >"$file.classes.jar.part"
            mv "$file.classes.jar.part" "$file.classes.jar"
        fi
        echo "$file.classes.jar"
    else
        echo "$file"
    fi
}
cp=(
    "$(fetch org/robolectric android-all 16-robolectric-13921718 jar | tail -n 1)"
    "$(fetch org/unifiedpush/android connector 3.1.2 aar | tail -n 1)"
    "$(fetch com/google/firebase firebase-messaging 26.0.1 aar | tail -n 1)"
    "$(fetch com/google/firebase firebase-common 23.0.0 aar | tail -n 1)"
    "$(fetch com/google/android/gms play-services-tasks 18.4.0 aar | tail -n 1)"
    "$(fetch com/google/android/gms play-services-basement 18.9.0 aar | tail -n 1)"
)
kotlinc=tools/kt/node_modules/kotlin-compiler/bin/kotlinc
lib=tools/kt/node_modules/kotlin-compiler/lib
out=target/android-classes
rm -rf "$out" && mkdir -p "$out"
sources=$(find android/app/src/main/kotlin -name '*.kt' | sort)
echo "kotlinc: the Android shell ($(echo "$sources" | wc -l) files) + generated bindings, against android-all (API 36)"
classpath="$(IFS=:; echo "${cp[*]}"):$lib/kotlinx-coroutines-core-jvm.jar:/usr/share/java/jna.jar"
log=$(mktemp)
if ! "$kotlinc" -jvm-target 17 -Werror -cp "$classpath" \
    target/bindings/uniffi/latchkey/latchkey.kt $sources -d "$out" >"$log" 2>&1; then
    grep -v '^warning: unable to find kotlin-stdlib.jar' "$log" >&2 || true
    echo "error: the Android shell does not compile" >&2
    exit 1
fi
grep -v '^warning: unable to find kotlin-stdlib.jar' "$log" || true
# The libraries it compiled against but android-all (Robolectric brings its own framework),
# for android/robolectric/run.sh.
echo "$(IFS=:; echo "${cp[*]:1}"):$lib/kotlinx-coroutines-core-jvm.jar:/usr/share/java/jna.jar" \
    >target/android-classes.classpath
count=$(find "$out/org/latchkey/android" -name '*.class' | wc -l)
echo "android shell compiled: $count classes in $out/org/latchkey/android"
