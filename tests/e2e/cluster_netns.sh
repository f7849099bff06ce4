#!/usr/bin/env bash
# cluster_netns.sh — the cluster across two network namespaces joined by a veth pair (two
# "hosts"): a CURVE broker on host A with one local worker, a worker and the client on host
# B. Then host B's link goes down mid-generation with requests on its worker: the broker
# declares it dead by missed heartbeats and the local worker finishes; the client (on host
# A this time) still gets every result once, equal to the single-process run. Skipped (0
# checks) where network namespaces cannot be created (needs root / CAP_NET_ADMIN).
. "$(dirname "$0")/../lib.sh"
A=lla$$ B=llb$$
if ! ip netns add "$A" 2>/dev/null; then echo "# skip: cannot create network namespaces"; finish; exit; fi
ip netns add "$B"
NREC=20
. "$(dirname "$0")/cluster.lib"
trap 'cleanup; ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null' EXIT
ip link add "va$$" type veth peer name "vb$$"
ip link set "va$$" netns "$A"; ip link set "vb$$" netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev "va$$"; ip -n "$B" addr add 10.77.0.2/24 dev "vb$$"
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set "va$$" up; ip -n "$B" link set "vb$$" up
reference
( cd "$TMP" && for k in broker wa wb client; do remask --keygen $k -q; done )
mkdir "$TMP/allow" && cp "$TMP/wa.pub" "$TMP/wb.pub" "$TMP/client.pub" "$TMP/allow/"
BLOG=$TMP/broker.log
ip netns exec "$A" denoise --broker tcp://10.77.0.1:5555 --backend tcp://10.77.0.1:5556 --heartbeat 200 \
    --key "$TMP/broker.key" --allow "$TMP/allow" 2>"$BLOG" & PIDS+=($!); BPID=$!
W="--key $TMP/wb.key --server-key $TMP/broker.pub"
ip netns exec "$B" denoise --worker tcp://10.77.0.1:5556 $SAMP --threads 1 --batch 2 --heartbeat 200 -q $W 2>>"$TMP/workers.log" &
WB=$!; PIDS+=($WB)
check "worker on host B registers over the link (CURVE)" wait_ready 1
C="--key $TMP/client.key --server-key $TMP/broker.pub"
ip netns exec "$B" denoise --remote tcp://10.77.0.1:5555 $C -q --json < "$TMP/in.mp" > "$TMP/o1.jsonl"
check "client on host B: identical to the single-process run" cmp "$TMP/ref.jsonl" "$TMP/o1.jsonl"

# cut host B off while its worker holds requests; a worker on host A takes over
ip netns exec "$A" denoise --worker tcp://10.77.0.1:5556 $SAMP --threads 1 --batch 2 --heartbeat 200 -q \
    --key "$TMP/wa.key" --server-key "$TMP/broker.pub" 2>>"$TMP/workers.log" & PIDS+=($!)
check "worker on host A registers" wait_ready 2
ip netns exec "$A" denoise --remote tcp://10.77.0.1:5555 $C -q --json < "$TMP/in.mp" > "$TMP/o2.jsonl" & CPID=$!
check "host B's worker is generating" wait_busy "$WB"
ip -n "$B" link set "vb$$" down
wait $CPID; rc=$?
check_eq "link cut: client exit status" 0 "$rc"
check "link cut: every result once, identical to the single-process run" cmp "$TMP/ref.jsonl" "$TMP/o2.jsonl"
stop_broker
check "link cut: detected by missed heartbeats, requests re-dispatched" \
    sh -c "grep -q 'missed its heartbeats' '$BLOG' && grep -Eq 're-dispatched [1-9]' '$BLOG'"
finish
