#!/usr/bin/env bash
# Fetches SMSGate (com.chinamobile.cmos:sms-core, pinned in pom.xml) and its runtime
# dependencies from Maven Central into lib/, and compiles the SGIP and SMGP peers
# (CnPeer.java, SgipPeer.java, SmgpPeer.java) into classes/.
# Idempotent: does nothing when lib/ and classes/ were built from the current pom.xml and
# sources. Needs mvn and a JDK 17 (javac).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

SOURCES=(CnPeer.java SgipPeer.java SmgpPeer.java)
want="$(cat pom.xml "${SOURCES[@]}" | sha256sum | cut -d' ' -f1)"
have="$(cat classes/.stamp 2>/dev/null || true)"
if [[ "$want" == "$have" && -f classes/tern/interop/SgipPeer.class && -f classes/tern/interop/SmgpPeer.class ]]; then
    echo "sgip-peer, smgp-peer: up to date ($(ls lib/sms-core-*.jar | xargs -n1 basename))"
    exit 0
fi

pom_want="$(sha256sum pom.xml | cut -d' ' -f1)"
pom_have="$(cat lib/.pom.sha256 2>/dev/null || true)"
if [[ "$pom_want" != "$pom_have" ]]; then
    rm -rf lib
    timeout 600 mvn -q -B -Dstyle.color=never dependency:copy-dependencies
    echo "$pom_want" >lib/.pom.sha256
fi

rm -rf classes
timeout 300 javac --release 17 -encoding UTF-8 -nowarn -cp "lib/*" -d classes "${SOURCES[@]}"
echo "$want" >classes/.stamp
echo "sgip-peer, smgp-peer: built ($(ls lib/sms-core-*.jar | xargs -n1 basename), $(javac -version 2>&1))"
