#!/usr/bin/env bash
# Cross-builds the driver for 64-bit Windows on Debian 12 (bookworm):
#   scripts/build-windows.sh [--release]
#   -> $CARGO_TARGET_DIR (default target/)/x86_64-pc-windows-gnu/{debug,release}/twofactorodbc.dll
#
# The rustup toolchain has no Windows standard library and none can be downloaded here,
# so the standard library is built from source: Debian's rustc-web (rustc 1.96, sysroot
# /usr) with its rust-web-src (the library's source at /usr/lib/rustlib/src/rust/library,
# where cargo's -Z build-std looks: `rustc --print sysroot` + lib/rustlib/src/rust),
# under RUSTC_BOOTSTRAP=1, which lets a stable compiler take -Z flags. mingw-w64's gcc
# links, and compiles ring's C and assembly. Takes 5 to 10 minutes from cold on 2 cores.
# Prints the path of the DLL on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/packages.sh"
ensure_packages rustc-web rust-web-src gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 || exit 1

rustc=/usr/bin/rustc   # rustc-web; the rustup proxy earlier on PATH is another rustc
[ -d "$("$rustc" --print sysroot)/lib/rustlib/src/rust/library/std" ] || {
    echo "no standard library source under $("$rustc" --print sysroot)/lib/rustlib/src/rust (rust-web-src)" >&2; exit 1; }

profile=debug flags=()
if [ "${1:-}" = "--release" ]; then profile=release flags=(--release); fi
target=x86_64-pc-windows-gnu
export RUSTC="$rustc" RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
(cd "$root" && cargo build "${flags[@]}" -Z build-std=std,panic_unwind --target "$target" -p twofactor-odbc) >&2

dll="${CARGO_TARGET_DIR:-$root/target}/$target/$profile/twofactorodbc.dll"
[ -f "$dll" ] || { echo "no $dll after the build" >&2; exit 1; }
# The export table must be exactly the .def list (which must match the source).
"$root/driver/windows/def.sh" --check-dll "$dll" >&2
echo "$dll"
