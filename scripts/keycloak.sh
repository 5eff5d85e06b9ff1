#!/usr/bin/env bash
# Run a real Keycloak on loopback whose OpenID CIBA (poll mode) "HTTP
# authentication channel" is an external server (Latchkey). Development and
# interoperability testing only: dev mode, in-memory database, on 127.0.0.1
# (plain HTTP, or HTTPS with KEYCLOAK_TLS_CERT/KEY).
#
#   scripts/keycloak.sh fetch
#       Download keycloak-quarkus-dist (via mvn, from Maven Central) into
#       ${LATCHKEY_CACHE:-$HOME/.cache/latchkey}/keycloak-$KEYCLOAK_VERSION
#       unless it is already there.
#   scripts/keycloak.sh start PORT CHANNEL_URI CA_PEM
#       Start dev-mode Keycloak on http://127.0.0.1:PORT. Keycloak POSTs CIBA
#       authentication requests to CHANNEL_URI (http:// or https://) and trusts
#       the CA certificate(s) in the PEM file CA_PEM (in addition to the JDK's
#       default CAs) for that outgoing HTTPS call. Waits until ready. Writes
#       keycloak.pid, keycloak.log and admin.env (mode 600, the generated
#       bootstrap admin password) into $KEYCLOAK_DIR.
#   scripts/keycloak.sh configure PORT
#       (Re)create realm "latchkey" (CIBA poll mode, login_hint), user "alice"
#       (alice@example.test) and confidential client "rp" with the CIBA grant
#       enabled. Prints the client secret of "rp" on stdout (only that). With
#       KEYCLOAK_PING_ENDPOINT set, also client "rp-ping" in CIBA ping mode
#       notified at that URL; its secret is printed on a second line.
#   scripts/keycloak.sh stop
#       Stop the Keycloak started by "start" (pid file in $KEYCLOAK_DIR).
#   scripts/keycloak.sh check
#       Succeed when Keycloak is fetched and a Java 21+ is here (says what is missing).
#
# Environment:
#   KEYCLOAK_VERSION        default 26.5.6
#   LATCHKEY_CACHE          default $HOME/.cache/latchkey
#   KEYCLOAK_DIR            pid/log/admin.env directory, default $LATCHKEY_CACHE/keycloak-run
#   KEYCLOAK_START_TIMEOUT  seconds to wait for readiness, default 180
#   KEYCLOAK_CIBA_INTERVAL  realm CIBA polling interval (s), default 1
#   KEYCLOAK_CIBA_EXPIRES_IN realm CIBA request lifetime (s), default 120
#   JAVA_HOME               used if it is Java 21 or newer
#   KEYCLOAK_TLS_CERT, KEYCLOAK_TLS_KEY
#                           serve HTTPS (only) on PORT with this certificate chain and key
#                           (PEM), as https://localhost:PORT; the readiness check and
#                           "configure" trust CA_PEM for it
#
# See docs/keycloak-ciba-notes.md for the channel contract.
set -euo pipefail

KEYCLOAK_VERSION=${KEYCLOAK_VERSION:-26.5.6}
CACHE=${LATCHKEY_CACHE:-$HOME/.cache/latchkey}
KC_HOME=$CACHE/keycloak-$KEYCLOAK_VERSION
KEYCLOAK_DIR=${KEYCLOAK_DIR:-$CACHE/keycloak-run}
REALM=latchkey
CLIENT_ID=rp

die() { echo "keycloak.sh: error: $*" >&2; exit 1; }
say() { echo "keycloak.sh: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

check_port() {
    if [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 > 0 && 10#$1 < 65536)); then
        return 0
    fi
    die "bad port: $1"
}

# --- Java -------------------------------------------------------------------

java_major() { # JDK_HOME -> major version on stdout, or failure
    local out v
    [[ -x $1/bin/java ]] || return 1
    out=$("$1/bin/java" -version 2>&1) || return 1
    v=$(printf '%s\n' "$out" | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n $v ]] || return 1
    case $v in
        1.*) v=${v#1.} ;;
    esac
    v=${v%%[.+-]*}
    [[ $v =~ ^[0-9]+$ ]] || return 1
    echo "$v"
}

java_ok() { local m; m=$(java_major "$1") && ((m >= 21)); }

pick_java() {
    local c
    if [[ -n ${JAVA_HOME:-} ]] && java_ok "$JAVA_HOME"; then
        echo "$JAVA_HOME"; return
    fi
    if java_ok /usr/lib/jvm/temurin-25-jdk-amd64; then
        echo /usr/lib/jvm/temurin-25-jdk-amd64; return
    fi
    for c in /usr/lib/jvm/*21* /usr/lib/jvm/*25*; do
        if [[ -d $c ]] && java_ok "$c"; then
            echo "$c"; return
        fi
    done
    die "Keycloak $KEYCLOAK_VERSION needs Java 21 or newer, and none was found.
  JAVA_HOME=${JAVA_HOME:-<unset>} ($(java_major "${JAVA_HOME:-/nonexistent}" 2>/dev/null || echo 'not a usable JDK'))
  also looked at /usr/lib/jvm/temurin-25-jdk-amd64, /usr/lib/jvm/*21*, /usr/lib/jvm/*25*.
  Install a JDK 21+ (e.g. apt-get install openjdk-21-jdk-headless, or Temurin 21/25) or point JAVA_HOME at one."
}

# --- fetch --------------------------------------------------------------------

cmd_fetch() {
    if [[ -x $KC_HOME/bin/kc.sh ]]; then
        say "Keycloak $KEYCLOAK_VERSION already in $KC_HOME"
        return
    fi
    command -v mvn >/dev/null || die "mvn (Apache Maven) is needed to download Keycloak from Maven Central"
    mkdir -p "$CACHE"
    local tmp m2art had_m2=0 t0=$SECONDS
    tmp=$(mktemp -d "$CACHE/.keycloak-fetch.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    m2art=$HOME/.m2/repository/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION
    [[ -e $m2art ]] && had_m2=1
    say "downloading org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz (~165 MB) ..."
    (cd "$tmp" && mvn -q -B -C -Dstyle.color=never dependency:copy \
        "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" \
        "-DoutputDirectory=$tmp") >&2 ||
        die "mvn could not download keycloak-quarkus-dist $KEYCLOAK_VERSION"
    # dependency:copy also leaves a copy in ~/.m2; drop it unless it was there before.
    if ((!had_m2)); then
        rm -rf "$m2art"
        rmdir "${m2art%/*}" 2>/dev/null || true
    fi
    tar -xzf "$tmp/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$tmp"
    [[ -x $tmp/keycloak-$KEYCLOAK_VERSION/bin/kc.sh ]] || die "unexpected archive layout"
    mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME"
    rm -rf "$tmp"
    trap - EXIT
    say "Keycloak $KEYCLOAK_VERSION unpacked into $KC_HOME in $((SECONDS - t0))s"
}

# --- start / stop -------------------------------------------------------------

pid_alive() { # pid file -> 0 if it names a live Keycloak we started
    local pid
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'keycloak' || return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cmd_start() {
    (($# == 3)) || usage
    local port=$1 uri=$2 ca=$3 java pid pw t0=$SECONDS deadline code
    check_port "$port"
    [[ $uri == http://* || $uri == https://* ]] ||
        die "CHANNEL_URI must start with http:// or https:// (Keycloak rejects anything else): $uri"
    [[ -r $ca ]] || die "CA_PEM not readable: $ca"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$ca" || die "CA_PEM has no PEM certificate: $ca"
    ca=$(cd "$(dirname "$ca")" && pwd)/$(basename "$ca")
    java=$(pick_java)
    [[ -x $KC_HOME/bin/kc.sh ]] || cmd_fetch
    mkdir -p "$KEYCLOAK_DIR"
    chmod 700 "$KEYCLOAK_DIR"
    if pid_alive "$KEYCLOAK_DIR/keycloak.pid"; then
        die "Keycloak already running (pid $(<"$KEYCLOAK_DIR/keycloak.pid")); run: $0 stop"
    fi
    port_in_use "$port" && die "127.0.0.1:$port is already in use"

    local base listen=(--http-host=127.0.0.1 "--http-port=$port") curl_tls=()
    base=http://127.0.0.1:$port
    if [[ -n ${KEYCLOAK_TLS_CERT:-} ]]; then
        [[ -r $KEYCLOAK_TLS_CERT && -r ${KEYCLOAK_TLS_KEY:-} ]] ||
            die "KEYCLOAK_TLS_CERT and KEYCLOAK_TLS_KEY must both name readable PEM files"
        base=https://localhost:$port
        listen=(--http-enabled=false --http-host=127.0.0.1 "--https-port=$port"
            "--https-certificate-file=$KEYCLOAK_TLS_CERT"
            "--https-certificate-key-file=$KEYCLOAK_TLS_KEY")
        curl_tls=(--cacert "$ca")
    fi
    pw=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
    (umask 077 && printf 'KC_ADMIN_USER=admin\nKC_ADMIN_PASSWORD=%s\nKC_PORT=%s\nKC_BASE=%s\nKC_CA=%s\n' \
        "$pw" "$port" "$base" "${curl_tls[1]:-}" >"$KEYCLOAK_DIR/admin.env")

    say "starting Keycloak $KEYCLOAK_VERSION (Java $(java_major "$java") at $java) on 127.0.0.1:$port"
    say "  channel: $uri   extra CA: $ca   log: $KEYCLOAK_DIR/keycloak.log"
    # The admin password travels in the environment only (not on a command line).
    # --db=dev-mem: fresh in-memory H2 on every start. The SPI option uses the
    # 26.x "--spi-<spi>--<provider>--<property>" spelling.
    # JAVA_OPTS_APPEND: silences jboss-threads' IllegalAccessError stack traces
    # at shutdown on Java 24+ (harmless, but noisy).
    JAVA_HOME=$java \
        JAVA_OPTS_APPEND="${JAVA_OPTS_APPEND:-} --add-opens=java.base/java.lang=ALL-UNNAMED" \
        KC_BOOTSTRAP_ADMIN_USERNAME=admin \
        KC_BOOTSTRAP_ADMIN_PASSWORD=$pw \
        nohup "$KC_HOME/bin/kc.sh" start-dev \
        "${listen[@]}" \
        --db=dev-mem \
        "--spi-ciba-auth-channel--ciba-http-auth-channel--http-authentication-channel-uri=$uri" \
        "--truststore-paths=$ca" \
        >"$KEYCLOAK_DIR/keycloak.log" 2>&1 </dev/null &
    pid=$!
    # $pid is kc.sh, which forwards SIGTERM to its java child (or is java itself
    # when kc.sh had to re-augment and exec'd it).
    echo "$pid" >"$KEYCLOAK_DIR/keycloak.pid"

    deadline=$((SECONDS + ${KEYCLOAK_START_TIMEOUT:-180}))
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$KEYCLOAK_DIR/keycloak.log" >&2 || true
            rm -f "$KEYCLOAK_DIR/keycloak.pid"
            die "Keycloak exited during startup (log: $KEYCLOAK_DIR/keycloak.log)"
        fi
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${curl_tls[@]}" \
            "$base/realms/master/.well-known/openid-configuration" || true)
        [[ $code == 200 ]] && break
        if ((SECONDS >= deadline)); then
            tail -n 40 "$KEYCLOAK_DIR/keycloak.log" >&2 || true
            die "Keycloak not ready after ${KEYCLOAK_START_TIMEOUT:-180}s (pid $pid still running; '$0 stop' to end it)"
        fi
        sleep 0.5
    done
    say "Keycloak ready at $base (pid $pid) after $((SECONDS - t0))s"
}

cmd_stop() {
    local pf=$KEYCLOAK_DIR/keycloak.pid pid i child
    if ! pid_alive "$pf"; then
        say "no running Keycloak recorded in $pf"
        rm -f "$pf"
        return 0
    fi
    pid=$(<"$pf")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "Keycloak (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
        # kc.sh normally runs java as its child (it execs java only after a
        # re-augmentation), so kill that child by id too.
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            kill -KILL "$child" 2>/dev/null || true
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pf"
    say "Keycloak (pid $pid) stopped"
}

# --- configure ----------------------------------------------------------------

cmd_configure() {
    (($# == 1)) || usage
    local port=$1 base hdr tok code cid secret
    check_port "$port"
    command -v jq >/dev/null || die "jq is needed"
    [[ -r $KEYCLOAK_DIR/admin.env ]] || die "no $KEYCLOAK_DIR/admin.env: start Keycloak with '$0 start' first"
    local KC_ADMIN_USER KC_ADMIN_PASSWORD
    KC_ADMIN_USER=$(sed -n 's/^KC_ADMIN_USER=//p' "$KEYCLOAK_DIR/admin.env")
    KC_ADMIN_PASSWORD=$(sed -n 's/^KC_ADMIN_PASSWORD=//p' "$KEYCLOAK_DIR/admin.env")
    base=$(sed -n 's/^KC_BASE=//p' "$KEYCLOAK_DIR/admin.env")
    base=${base:-http://127.0.0.1:$port}
    local kc_ca tls=()
    kc_ca=$(sed -n 's/^KC_CA=//p' "$KEYCLOAK_DIR/admin.env")
    [[ -n $kc_ca ]] && tls=(--cacert "$kc_ca")

    # Admin token: the password goes to curl on stdin, the token via a header
    # file, so neither shows up in the process list.
    tok=$(printf 'grant_type=password&client_id=admin-cli&username=%s&password=%s' \
        "$KC_ADMIN_USER" "$KC_ADMIN_PASSWORD" |
        curl -sf -m 20 "${tls[@]}" -X POST "$base/realms/master/protocol/openid-connect/token" --data-binary @- |
        jq -r .access_token) || die "could not get an admin token from $base (is Keycloak running on that port?)"
    [[ -n $tok && $tok != null ]] || die "could not get an admin token"
    hdr=$(mktemp "$KEYCLOAK_DIR/.auth.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -f '$hdr'" EXIT
    printf 'Authorization: Bearer %s\n' "$tok" >"$hdr"

    api() { # METHOD PATH [JSON] -> body on stdout; fails on HTTP >= 400
        local out
        out=$(curl -s -m 20 "${tls[@]}" -X "$1" "$base/admin/realms$2" -H @"$hdr" \
            -H 'Content-Type: application/json' ${3:+--data-binary "$3"} -w '\n%{http_code}') || return 1
        code=${out##*$'\n'}
        out=${out%$'\n'*}
        if ((code >= 400)); then
            echo "keycloak.sh: $1 /admin/realms$2 -> HTTP $code: $out" >&2
            return 1
        fi
        printf '%s' "$out"
    }

    # Start from a clean realm every time.
    code=$(curl -s -o /dev/null -m 20 "${tls[@]}" -w '%{http_code}' -H @"$hdr" "$base/admin/realms/$REALM")
    if [[ $code == 200 ]]; then
        say "realm $REALM exists; deleting it"
        api DELETE "/$REALM" >/dev/null || die "could not delete realm $REALM"
    fi

    api POST "" "$(jq -n --arg realm "$REALM" \
        --arg interval "${KEYCLOAK_CIBA_INTERVAL:-1}" --arg expires "${KEYCLOAK_CIBA_EXPIRES_IN:-120}" '{
        realm: $realm, enabled: true,
        attributes: {
            cibaBackchannelTokenDeliveryMode: "poll",
            cibaExpiresIn: $expires,
            cibaInterval: $interval,
            cibaAuthRequestedUserHint: "login_hint"
        }}')" >/dev/null || die "could not create realm $REALM"

    api POST "/$REALM/users" '{
        "username": "alice", "email": "alice@example.test", "emailVerified": true,
        "firstName": "Alice", "lastName": "Example",
        "enabled": true, "requiredActions": []}' >/dev/null || die "could not create user alice"

    api POST "/$REALM/clients" "$(jq -n --arg id "$CLIENT_ID" '{
        clientId: $id, enabled: true, protocol: "openid-connect",
        publicClient: false, clientAuthenticatorType: "client-secret",
        standardFlowEnabled: false, implicitFlowEnabled: false,
        directAccessGrantsEnabled: false, serviceAccountsEnabled: false,
        consentRequired: false,
        attributes: {
            "oidc.ciba.grant.enabled": "true",
            "ciba.backchannel.token.delivery.mode": "poll"
        }}')" >/dev/null || die "could not create client $CLIENT_ID"

    cid=$(api GET "/$REALM/clients?clientId=$CLIENT_ID" | jq -r '.[0].id') || die "could not look up client $CLIENT_ID"
    secret=$(api GET "/$REALM/clients/$cid/client-secret" | jq -r .value) || die "could not read the client secret"
    [[ -n $secret && $secret != null ]] || die "client $CLIENT_ID has no secret"

    local ping_secret=""
    if [[ -n ${KEYCLOAK_PING_ENDPOINT:-} ]]; then
        api POST "/$REALM/clients" "$(jq -n --arg id "$CLIENT_ID-ping" --arg ep "$KEYCLOAK_PING_ENDPOINT" '{
            clientId: $id, enabled: true, protocol: "openid-connect",
            publicClient: false, clientAuthenticatorType: "client-secret",
            standardFlowEnabled: false, implicitFlowEnabled: false,
            directAccessGrantsEnabled: false, serviceAccountsEnabled: false,
            consentRequired: false,
            attributes: {
                "oidc.ciba.grant.enabled": "true",
                "ciba.backchannel.token.delivery.mode": "ping",
                "ciba.backchannel.client.notification.endpoint": $ep
            }}')" >/dev/null || die "could not create client $CLIENT_ID-ping"
        cid=$(api GET "/$REALM/clients?clientId=$CLIENT_ID-ping" | jq -r '.[0].id') || die "could not look up client $CLIENT_ID-ping"
        ping_secret=$(api GET "/$REALM/clients/$cid/client-secret" | jq -r .value) || die "could not read the ping client's secret"
    fi
    rm -f "$hdr"
    trap - EXIT
    say "realm $REALM: user alice, confidential client $CLIENT_ID (CIBA poll); CIBA endpoint $base/realms/$REALM/protocol/openid-connect/ext/ciba/auth"
    printf '%s\n' "$secret"
    [[ -z $ping_secret ]] || printf '%s\n' "$ping_secret"
}

case ${1:-} in
    fetch) shift; (($# == 0)) || usage; cmd_fetch ;;
    start) shift; cmd_start "$@" ;;
    configure) shift; cmd_configure "$@" ;;
    stop) shift; (($# == 0)) || usage; cmd_stop ;;
    check)
        shift
        [[ -x $KC_HOME/bin/kc.sh ]] || die "Keycloak $KEYCLOAK_VERSION is not in $KC_HOME (run: $0 fetch)"
        pick_java >/dev/null
        ;;
    *) usage ;;
esac
