#!/usr/bin/env bash
# .ci/install-check.sh: `cargo install --path . --locked` works and gives a working `specgate`
# with completions, a man page and a git-stamped --version. Cheap: a debug install that reuses
# the project's target dir (CARGO_TARGET_DIR) into a throw-away root, so it costs a link.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d /tmp/specgate-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target} \
  cargo install --quiet --path . --locked --debug --root "$root"
bin=$root/bin/specgate
version=$("$bin" --version)
rev=$(git rev-parse --short=10 HEAD 2>/dev/null || true)
case "$version" in
  "specgate "*"(git $rev)") ;;
  "specgate "*) [ -z "$rev" ] || { echo "install-check: --version '$version' lacks git $rev" >&2; exit 1; } ;;
  *) echo "install-check: bad --version '$version'" >&2; exit 1 ;;
esac
for sh in bash zsh fish powershell; do
  "$bin" completions "$sh" | grep -q "filter" || { echo "install-check: $sh completion lacks 'filter'" >&2; exit 1; }
done
"$bin" man | grep -q '^\.TH specgate' || { echo "install-check: man page lacks .TH" >&2; exit 1; }
echo "install-check: cargo install --path . --locked OK ($version)"
