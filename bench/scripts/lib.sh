# Helpers the benchmark scripts share; sourced, not run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A port the kernel has free on 127.0.0.1 now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [TENTHS]: until something listens on PORT, at most TENTHS/10 s (default 10 s).
wait_port() {
    for _ in $(seq 1 "${2:-100}"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "port $1 did not open" >&2
    return 1
}

# utime + stime of process PID, in clock ticks (getconf CLK_TCK a second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Resident and peak resident memory of process PID, in MiB.
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
peak_rss_mib() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# The processes started so far, which stop_all ends.
PIDS=()
stop_all() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=()
}

# bench_node_toml FILE SMPP_PORT SIM_PORT STORE_DIR [STORE_LINE...]: the configuration of a
# `tern node` for the bench scripts: SMPP customer `bench`/`bench` (window 64, 8 binds), the
# simulated operator `tern`/`tern` at SIM_PORT (window 256), the embedded store in STORE_DIR
# with fsync on and each STORE_LINE added to [store].
bench_node_toml() {
    local file="$1" smpp="$2" sim="$3" store="$4"
    shift 4
    {
        printf '[log]\nlevel = "warn"\n[smpp]\nlisten = "127.0.0.1:%s"\nwindow = 64\n' "$smpp"
        printf '[store]\ndir = "%s"\nfsync = true\n' "$store"
        for line in "$@"; do printf '%s\n' "$line"; done
        printf '[[account]]\nsystem_id = "bench"\npassword = "bench"\nmax_binds = 8\n'
        printf '[[upstream]]\nname = "sim"\nurl = "smpp://tern:tern@127.0.0.1:%s"\nwindow = 256\n' "$sim"
    } > "$file"
}
