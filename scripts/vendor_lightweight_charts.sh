#!/usr/bin/env bash
# Refresh the dashboard's vendored copy of TradingView's lightweight-charts from npm (pinned version).
# Usage: scripts/vendor_lightweight_charts.sh [VERSION]   (default: the version pinned below)
# Copies the standalone production build and the licence into gateway/static/vendor/; the page loads
# it from the gateway's own origin, so the dashboard works offline.
set -euo pipefail
VERSION="${1:-5.2.1}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/gateway/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "lightweight-charts@${VERSION}" >/dev/null && tar -xzf lightweight-charts-*.tgz)
BUILD="$WORK/package/dist/lightweight-charts.standalone.production.js"
test -f "$BUILD" || { echo "no standalone production build in lightweight-charts@${VERSION}" >&2; exit 1; }
mkdir -p "$DEST"
cp "$BUILD" "$DEST/lightweight-charts.standalone.production.js"
cp "$WORK/package/LICENSE" "$DEST/lightweight-charts.LICENSE"
printf 'lightweight-charts %s (npm), dist/lightweight-charts.standalone.production.js\nsha256 %s\n' \
  "$VERSION" "$(sha256sum "$DEST/lightweight-charts.standalone.production.js" | cut -d' ' -f1)" \
  > "$DEST/lightweight-charts.VERSION"
echo "vendored lightweight-charts ${VERSION} into ${DEST}"
