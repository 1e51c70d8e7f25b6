#!/usr/bin/env bash
# Builds the cargo-fuzz targets (libFuzzer, AddressSanitizer, debug assertions) and runs
# each for a bounded time on a copy of its committed seed corpus. Fails on any crash,
# panic, leak, timeout or out-of-memory, and prints the reproducer and the command that
# replays it.
#
# Environment: FUZZ_SECONDS per target (default 20); FUZZ_JOBS targets at once (default:
# the number of CPUs); FUZZ_TARGETS="row_batch otpauth_uri" runs only those;
# TWOFACTOR_CACHE_DIR: keep the fuzz build there between runs (else target/fuzz).
# For long runs see fuzz/README.md.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"

if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz..."
    cargo install --locked cargo-fuzz || exit 1
fi
# cargo-fuzz passes nightly flags (-Zsanitizer, -Cpasses=sancov-module); the stable
# toolchain accepts them with RUSTC_BOOTSTRAP=1, and ships the ASan runtime.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${TWOFACTOR_CACHE_DIR:+$TWOFACTOR_CACHE_DIR/fuzz-target}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/fuzz}"
seconds="${FUZZ_SECONDS:-20}"
jobs="${FUZZ_JOBS:-$(nproc)}"
targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"

echo "== cargo fuzz build (target dir $CARGO_TARGET_DIR)"
cargo fuzz build -O --debug-assertions || exit 1
bin_dir="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"

work="$(mktemp -d /tmp/twofactor-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# One target: fuzz a scratch copy of the corpus (the committed one stays as it is).
run_target() {
    local target="$1" corpus="$work/corpus/$1" artifacts="$work/artifacts/$1/"
    mkdir -p "$corpus" "$artifacts"
    cp -r "$here/corpus/$target/." "$corpus/" 2>/dev/null
    "$bin_dir/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$work/$target.log" 2>&1
}

status=0
running=0
for target in $targets; do
    run_target "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
for target in $targets; do
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log" | tail -n 1)"
    found="$(find "$work/artifacts/$target" -type f 2>/dev/null)"
    if [ -z "$found" ] && grep -q '^Done [0-9]* runs' "$work/$target.log"; then
        echo "ok   $target: ${runs:-?} runs in ${seconds} s"
        continue
    fi
    status=1
    echo "FAIL $target:"
    grep -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|Test unit written)' "$work/$target.log" | head -n 20
    tail -n 30 "$work/$target.log"
    for artifact in $found; do
        mkdir -p "$here/artifacts/$target"
        cp "$artifact" "$here/artifacts/$target/"
        echo "reproducer: fuzz/artifacts/$target/$(basename "$artifact") (base64: $(base64 -w0 "$artifact" | head -c 2000))"
        echo "replay:     cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O --debug-assertions $target artifacts/$target/$(basename "$artifact")"
    done
done
exit "$status"
