#!/usr/bin/env bash
# Regenerates the committed roff man pages from their markdown sources.
# Needs pandoc (a developer tool; building snap does not).
set -euo pipefail
cd "$(dirname "$0")"
for md in *.md; do
  pandoc --standalone --to man "$md" -o "${md%.md}"
done
