#!/usr/bin/env bash
# Build time of apps/httpd (the largest example app): a clean build and a
# comment-only edit, for an older commit (default: main) and for the working
# tree's commit (HEAD), the latter in both build profiles. Both sides are
# exported side by side and measured in the same session with hyperfine
# (medians and spread of several runs); the Markdown tables go to $OUT.
#   bench/build-time.sh [base-commit] [runs]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
base="${1:-main}"
runs="${2:-3}"
work="$(mktemp -d /tmp/uniwasm-build-time.XXXXXX)"
OUT="${OUT:-$work}"
# the exported trees and their builds are large: gone at the end unless the tables are in there
[ "$OUT" != "$work" ] && trap 'rm -rf "$work"' EXIT
for side in base head; do
  rev="$base"; [ "$side" = head ] && rev=HEAD
  mkdir -p "$work/$side"
  git -C "$here" archive "$rev" | tar -x -C "$work/$side"
  cp -al "$here/node_modules" "$work/$side/node_modules" # own .cache: the asc package link points at its own tree
  rm -rf "$work/$side/node_modules/.cache"
done
app=apps/httpd
edit() { echo "echo '// an edit' >> $work/$1/$app/services.ts"; }
build() { echo "node $work/$1/tools/cli.js image $work/$1/$app --out $work/out-$1$2 $3"; }
hyperfine --runs "$runs" --export-markdown "$OUT/clean.md" \
  -n "base release" --prepare "rm -rf $work/out-base" "$(build base "" "")" \
  -n "head release" --prepare "rm -rf $work/out-head" "$(build head "" "")" \
  -n "head dev" --prepare "rm -rf $work/out-head-dev" "$(build head -dev "--profile dev")"
hyperfine --runs "$runs" --export-markdown "$OUT/incremental.md" \
  -n "base release" --prepare "$(edit base)" "$(build base "" "")" \
  -n "head release" --prepare "$(edit head)" "$(build head "" "")" \
  -n "head dev" --prepare "$(edit head)" "$(build head -dev "--profile dev")"
cat "$OUT/clean.md" "$OUT/incremental.md"
