#!/usr/bin/env bash
# run-with-server.sh: starts the flaky echo server, runs a program against it,
# then stops the server.
#
#   run-with-server.sh [flaky-echo options...] -- program [args...]
#
# In the program's arguments, "@PORT@" becomes the port of a server listening on
# 127.0.0.1, and "@SOCK@" the path of one listening on a Unix socket (in a
# temporary directory, removed afterwards); each server is started only if its
# placeholder is used, both with the same options. The servers' event logs
# ("flaky-echo: drop #3 (FIN)") are printed on stdout with a timestamp in the
# examples' format ("server" and "unix-srv"), so that they interleave with the
# program's output. The program's standard input is this script's.
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
case "$*" in *@PORT@*) want_tcp=1 ;; *) want_tcp= ;; esac
case "$*" in *@SOCK@*) want_unix=1 ;; *) want_unix= ;; esac

dir=$(mktemp -d)
pids=() ins=() stamps=()

# Timestamps every line of a server's log: "12:34:56.789 server    flaky-echo: ...".
stamp() {
    local line t
    while IFS= read -r line; do
        t=$EPOCHREALTIME
        printf '%(%H:%M:%S)T.%s %-9s %s\n' "${t%.*}" "$(printf '%.3s' "${t#*.}")" "$1" "$line"
    done
}

# Stops every server: "quit" on its stdin (it also exits when that closes), and
# if it lingers, ends it by its pid.
stop_servers() {
    local fd pid
    for fd in "${ins[@]}"; do
        echo quit >&"$fd" 2>/dev/null
        eval "exec $fd>&-"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for pid in "${stamps[@]}"; do
        wait "$pid" 2>/dev/null
    done
    rm -rf "$dir"
}

# start_server LABEL [options...]: starts a server with the common options and
# these; sets $listening to what it printed after LISTENING (the port).
start_server() {
    local label=$1 in out err word
    shift
    mkfifo "$dir/$label.in" "$dir/$label.out"
    exec {err}> >(stamp "$label")
    stamps+=($!)
    "$FLAKY_ECHO" "${server_args[@]}" "$@" < "$dir/$label.in" > "$dir/$label.out" 2>&"$err" &
    pids+=($!)
    exec {in}> "$dir/$label.in" {out}< "$dir/$label.out"
    eval "exec $err>&-"
    ins+=("$in")
    if ! read -r -t 20 word listening <&"$out" || [ "$word" != LISTENING ]; then
        echo "$0: the $label server did not start (no LISTENING line)" >&2
        stop_servers
        exit 2
    fi
}

port= sock= where=
if [ -n "$want_tcp" ]; then
    start_server server --port 0
    port=$listening
    where="port $port"
fi
if [ -n "$want_unix" ]; then
    sock=$dir/echo.sock
    start_server unix-srv --unix "$sock"
    where="${where:+$where and }$sock"
fi

args=()
for a in "$@"; do
    a=${a//@PORT@/$port}
    args+=("${a//@SOCK@/$sock}")
done
echo "== ${args[*]}  (flaky-echo ${server_args[*]} on $where)"
# From a terminal the program must be in the foreground to read it.
fg=()
[ -t 0 ] && fg=(--foreground)
timeout "${fg[@]}" -k 5 "${RUN_TIMEOUT:-120}" "${args[@]}"
rc=$?

stop_servers
if [ $rc -eq 124 ]; then
    echo "$0: ${args[0]} timed out after ${RUN_TIMEOUT:-120} s" >&2
fi
exit $rc
