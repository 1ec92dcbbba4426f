#!/usr/bin/env bash
# Copies the explorer's pinned builds from the npm registry (versions fixed
# by package-lock.json) into web/vendor/, named with their versions, and
# writes web/vendor/SHA256SUMS. The files are committed and embedded in the
# binary, so `cargo build` never needs npm or a network.
#
#   web/vendor.sh          refresh web/vendor/ from the lockfile
#   web/vendor.sh --check  fail unless web/vendor/ is exactly what the lockfile gives
set -euo pipefail
cd "$(dirname "$0")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

version() { node -p "require('$work/node_modules/$1/package.json').version"; }
graphiql="$(version graphiql)"
react="$(version react)"
react_dom="$(version react-dom)"

out="$work/vendor"
mkdir -p "$out"
cp "$work/node_modules/graphiql/graphiql.min.js" "$out/graphiql-$graphiql.min.js"
cp "$work/node_modules/graphiql/graphiql.min.css" "$out/graphiql-$graphiql.min.css"
cp "$work/node_modules/graphiql/LICENSE" "$out/LICENSE-graphiql"
cp "$work/node_modules/react/umd/react.production.min.js" "$out/react-$react.production.min.js"
cp "$work/node_modules/react/LICENSE" "$out/LICENSE-react"
cp "$work/node_modules/react-dom/umd/react-dom.production.min.js" "$out/react-dom-$react_dom.production.min.js"
cp "$work/node_modules/react-dom/LICENSE" "$out/LICENSE-react-dom"
(cd "$out" && sha256sum -- *.js *.css > SHA256SUMS)

if [[ "${1:-}" == "--check" ]]; then
    if diff -r "$out" vendor; then
        echo "web/vendor matches package-lock.json"
    else
        echo "web/vendor differs from what package-lock.json gives: run web/vendor.sh" >&2
        exit 1
    fi
else
    rm -rf vendor
    cp -r "$out" vendor
    echo "web/vendor: graphiql $graphiql, react $react, react-dom $react_dom"
    cat vendor/SHA256SUMS
fi
