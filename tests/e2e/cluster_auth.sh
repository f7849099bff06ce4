#!/usr/bin/env bash
# cluster_auth.sh — issue 18 item 8: CURVE refusals are reported as "authentication failed" on
# both sides (ZeroMQ socket monitor, ZMQ_EVENT_HANDSHAKE_FAILED_*), not as a silent broker: a
# client or worker whose key is not on the broker's allow-list, a client with the wrong server
# key, a plaintext client. The broker logs each refused key once, and handshake failures at
# most once per 10 s.
. "$(dirname "$0")/../lib.sh"
NREC=2
. "$(dirname "$0")/cluster.lib"
( cd "$TMP" && for k in broker alice w1 mallory; do remask --keygen $k -q; done )
mkdir "$TMP/allow" && cp "$TMP/alice.pub" "$TMP/w1.pub" "$TMP/allow/"
start_broker --key "$TMP/broker.key" --allow "$TMP/allow"
mal=$(cat "$TMP/mallory.pub")

for i in 1 2 3; do
    check_exit 4 "unlisted client (try $i): exit 4" denoise --remote "$FRONT" --key "$TMP/mallory.key" --server-key "$TMP/broker.pub" --timeout 3000 -q --json < "$TMP/in.mp"
done
check_stderr "unlisted client: says authentication failed" "^denoise: error: authentication failed: the broker at $FRONT refused this client's key"
check_eq "unlisted client: one line" 1 "$(wc -l < "$ERR_FILE")"
check_exit 4 "wrong server key: exit 4" denoise --remote "$FRONT" --key "$TMP/alice.key" --server-key "$TMP/mallory.pub" --timeout 3000 -q --json < "$TMP/in.mp"
check_stderr "wrong server key: says authentication failed" "^denoise: error: authentication failed: the CURVE handshake with broker at $FRONT failed"
check_exit 4 "plaintext client: exit 4" denoise --remote "$FRONT" --timeout 3000 -q --json < "$TMP/in.mp"
check_stderr "plaintext client: says authentication failed" "^denoise: error: authentication failed: "
denoise --worker "$BACK" $SAMP --key "$TMP/mallory.key" --server-key "$TMP/broker.pub" --heartbeat 200 -q 2>"$TMP/wm.log" & wp=$!; PIDS+=($wp)
for _ in $(seq 100); do kill -0 $wp 2>/dev/null || break; sleep 0.05; done
wait $wp; wrc=$?
check_eq "unlisted worker: exits 4" 4 "$wrc"
check "unlisted worker: says authentication failed" grep -q "^denoise: error: worker: authentication failed: the broker at $BACK refused" "$TMP/wm.log"
sleep 0.5   # a heartbeat round: the broker reports what its ZAP handler refused
stop_broker
sed 's/^/# /' "$BLOG" | grep 'authentication'
check_eq "broker: mallory's key logged once for 3 clients and a worker" 1 "$(grep -cF "authentication failed: client key $mal (from 127.0.0.1) is not on the allow-list" "$BLOG")"
check "broker: the wrong-server-key handshake reported" grep -q "authentication failed: a peer's CURVE handshake on .* failed" "$BLOG"
check "broker: rate-limited (at most one such line per socket)" test "$(grep -c "CURVE handshake on" "$BLOG")" -le 2
check "broker: counted" grep -Eq 'refused [1-9][0-9]* connections, [1-9][0-9]* failed handshakes' "$BLOG"
finish
