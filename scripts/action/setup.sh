#!/usr/bin/env bash
# kmeminit GitHub Action, step "setup": install kmeminit from the action's own checkout (no
# release needed) and compute the fact store's cache key.  Inputs come as INPUT_* variables
# (action.yml maps them; no ${{ }} expression reaches a shell script).
set -euo pipefail

out() { printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; }
fail() { echo "::error title=kmeminit::$1"; exit 2; }

if [ "$INPUT_INSTALL" = true ]; then
    venv="$RUNNER_TEMP/kmeminit-venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH"
    kmeminit="$venv/bin/kmeminit"
elif [ "$INPUT_INSTALL" = false ]; then
    kmeminit=$(command -v kmeminit) || fail "install is false, but there is no kmeminit on PATH"
else
    fail "install must be true or false, got '$INPUT_INSTALL'"
fi
version=$("$kmeminit" --version | awk '{print $2}')

# The cache key: kmeminit's version and sources (a changed analyzer never reuses facts it
# did not compute), the config, the configuration (category) and the kernel revision.  The
# store is keyed by content hashes inside, so restoring an older revision's store is safe
# and makes the run incremental: restore-keys drop the revision.
sources=$(cd "$GITHUB_ACTION_PATH" && find analyzer checkers config sarif pyproject.toml \
    -type f \( -name '*.py' -o -name '*.yaml' -o -name '*.toml' \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
config=default
if [ -n "$INPUT_CONFIG" ]; then
    [ -f "$INPUT_TREE/$INPUT_CONFIG" ] || [ -f "$INPUT_CONFIG" ] \
        || fail "config file not found: $INPUT_CONFIG (relative to the tree $INPUT_TREE)"
    config=$(cd "$INPUT_TREE" && sha256sum < "$INPUT_CONFIG" | cut -c1-12)
fi
revision=$(git -C "$INPUT_TREE" rev-parse HEAD 2>/dev/null) \
    || fail "$INPUT_TREE is not a git checkout (actions/checkout it first)"
slug=$(printf '%s' "${INPUT_CATEGORY:-default}" | tr -c 'A-Za-z0-9_.-' '-')
prefix="kmeminit-${RUNNER_OS:-Linux}-$slug-$version-$sources-$config-"

out kmeminit "$kmeminit"
out store "$RUNNER_TEMP/kmeminit-store"
out cache-key "$prefix$revision"
out restore-key "$prefix"
echo "kmeminit $version ($sources) at $kmeminit; fact store cache key $prefix$revision"
