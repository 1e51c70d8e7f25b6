#!/usr/bin/env bash
# Runs the README's first command as a new user would: a clean clone of the current
# commit, on a machine without the packages `scripts/demo.sh` must install itself.
# Used by .ci/run after the test suite (it uninstalls unixODBC, which the suite needs).
#
# Only the release build is cached (TWOFACTOR_CACHE_DIR/demo-target), so a rerun is quick;
# nothing else carries over from the developer's checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
cache="${TWOFACTOR_CACHE_DIR:-/var/cache/twofactor-ci}"

# What demo.sh must bring itself: unixODBC (tools, libraries, headers) and oathtool.
# gcc and libc6-dev stay: the machine has them before any project file runs.
remove=(unixodbc unixodbc-dev odbcinst libodbc2 libodbcinst2 libodbccr2 unixodbc-common oathtool)
installed=()
for pkg in "${remove[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" && installed+=("$pkg")
done
if [ "${#installed[@]}" -gt 0 ]; then
    echo "removing: ${installed[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -q "${installed[@]}" </dev/null >/dev/null
fi
for tool in isql odbcinst oathtool; do
    if command -v "$tool" >/dev/null; then echo "ci-fresh-demo: $tool is still installed" >&2; exit 1; fi
done

clone="$(mktemp -d /tmp/twofactor-fresh-clone.XXXXXX)"
trap 'rm -rf "$clone"' EXIT
git clone -q --no-hardlinks "$root" "$clone/repo"
mkdir -p "$cache/demo-target"
ln -s "$cache/demo-target" "$clone/repo/target"
cd "$clone/repo"
bash scripts/demo.sh </dev/null
