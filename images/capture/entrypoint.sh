#!/bin/bash
# The capture sidecar: tcpdump on the lab bridge, writing its ring of pcap files
# under a prefix of its own start time, so a restarted capture never overwrites
# what an earlier start wrote. tcpdump's counters (packets received, dropped by
# kernel) are asked for every second (SIGUSR1) and kept, latest only, in
# <prefix>.stats beside the files (labctl.capture.files reads them).
# Usage: labctl-capture DIR [tcpdump options...]
set -eu
dir=$1
shift
prefix="$dir/lab-$(date -u +%Y%m%dT%H%M%S.%NZ)"
stats="$prefix.stats"
fifo=$(mktemp -u)
mkfifo "$fifo"

# A FIFO opened for reading and writing never has data: `read -t` on it sleeps without
# forking sleep(1). Every lab of a class runs this loop each second: idle, it costs nothing.
mkfifo "$fifo.nap"
exec 3<>"$fifo.nap"
nap() {
    read -r -t "$1" -u 3 _ || true
}

# The stats file is rewritten only when the counters change (not while the lab is idle).
keep_stats() {
    pending=""
    last=""
    while IFS= read -r line; do
        case $line in
            # SIGUSR1 prints one line; exit prints captured, received, dropped on three.
            *"packets dropped by kernel"*)
                if [ "$pending$line" != "$last" ]; then
                    printf '%s%s\n' "$pending" "$line" >"$stats.new" && mv "$stats.new" "$stats"
                    last="$pending$line"
                fi
                pending="" ;;
            *" packets captured" | *" packets received by filter")
                pending="$pending$line, " ;;
            *"listening on"*)
                : >"$fifo.listening"  # its signal handlers are set: SIGUSR1 is safe now
                printf '%s\n' "$line" >&2 ;;  # labctl waits for this line
            *) printf '%s\n' "$line" >&2 ;;
        esac
    done
}

keep_stats <"$fifo" 3<&- &
reader=$!
tcpdump "$@" -w "$prefix.pcap" 2>"$fifo" 3<&- &
capture=$!
trap 'kill -TERM "$capture" 2>/dev/null || true' TERM INT
# Before tcpdump handles SIGUSR1, the signal would kill it.
while [ ! -e "$fifo.listening" ] && kill -0 "$capture" 2>/dev/null; do
    nap 0.05
done
while kill -USR1 "$capture" 2>/dev/null; do
    nap 1
done
status=0
wait "$capture" || status=$?
wait "$reader" || true
exit "$status"
