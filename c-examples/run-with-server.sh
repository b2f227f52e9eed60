#!/usr/bin/env bash
# run-with-server.sh: starts the flaky echo server on a free port, runs a program
# against it, then stops the server.
#
#   run-with-server.sh [flaky-echo options...] -- program [args...]
#
# Every "@PORT@" in the program's arguments becomes the server's port. The
# server's event log ("flaky-echo: drop #3 (FIN)") is printed on stdout with a
# timestamp in the examples' format, so that it interleaves with their output.
# Environment: FLAKY_ECHO (the server binary), RUN_TIMEOUT (seconds, default 120).
# Exit status: the program's (124 if it timed out).
set -u
export LC_ALL=C
FLAKY_ECHO=${FLAKY_ECHO:-"$(dirname "$0")/../target/release/flaky-echo"}

server_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    server_args+=("$1")
    shift
done
if [ $# -lt 2 ]; then
    echo "usage: $0 [flaky-echo options...] -- program [args...]" >&2
    exit 2
fi
shift
if [ ! -x "$FLAKY_ECHO" ]; then
    echo "$0: no flaky echo server at $FLAKY_ECHO (cargo build --release -p flaky-echo)" >&2
    exit 2
fi

# Timestamps every line of the server's log: "12:34:56.789 server    flaky-echo: ...".
stamp() {
    local line t
    while IFS= read -r line; do
        t=$EPOCHREALTIME
        printf '%(%H:%M:%S)T.%s server    %s\n' "${t%.*}" "$(printf '%.3s' "${t#*.}")" "$line"
    done
}
exec 3> >(stamp)
stamp_pid=$!

# The server reads commands on stdin and exits when it closes (if we die, too).
coproc SERVER { exec "$FLAKY_ECHO" --port 0 "${server_args[@]}" 2>&3; }
server_pid=$SERVER_PID
port=
if ! read -r -t 20 word port <&"${SERVER[0]}" || [ "$word" != LISTENING ]; then
    echo "$0: the server did not start (no LISTENING line)" >&2
    kill "$server_pid" 2>/dev/null
    exit 2
fi

args=()
for a in "$@"; do
    args+=("${a//@PORT@/$port}")
done
echo "== ${args[*]}  (flaky-echo ${server_args[*]} on port $port)"
timeout -k 5 "${RUN_TIMEOUT:-120}" "${args[@]}"
rc=$?

# Stop the server: "quit", and if it lingers, end it by its pid.
echo quit >&"${SERVER[1]}" 2>/dev/null
for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
kill "$server_pid" 2>/dev/null
wait "$server_pid" 2>/dev/null
exec 3>&-
wait "$stamp_pid" 2>/dev/null
if [ $rc -eq 124 ]; then
    echo "$0: ${args[0]} timed out after ${RUN_TIMEOUT:-120} s" >&2
fi
exit $rc
