#!/usr/bin/env bash
# kmeminit GitHub Action, step "analyse": run kmeminit, full (check) or against the pull
# request's base (diff), writing SARIF, JSON and the job summary from one run.  Findings
# never fail this step: its outputs say what was found, the upload step comes next, and the
# verdict step fails the job after it.
set -euo pipefail

out() { printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; }
fail() { echo "::error title=kmeminit::$1"; out exit-code 2; out sarif ""; exit 0; }

# The revision to compare with, fetched and deepened in a shallow clone as far as the merge
# base of HEAD and it: the changes a pull request makes are those since the merge base.
base_revision() {
    local base=$INPUT_BASE
    if [ -z "$base" ]; then
        if git rev-parse -q --verify 'HEAD^2' > /dev/null; then
            base=HEAD^1  # a pull request's merge commit: its first parent is the base branch
        else
            base=$EVENT_BASE_SHA
        fi
    fi
    [ -n "$base" ] || { echo "pull-request mode needs the base input outside a pull request" >&2; return 1; }
    if ! git rev-parse -q --verify "$base^{commit}" > /dev/null; then
        git fetch --quiet --no-tags --depth=1 origin "$base" >&2 || return 1
        base=$(git rev-parse FETCH_HEAD)
    fi
    local merge_base deepen=64
    until merge_base=$(git merge-base HEAD "$base" 2> /dev/null); do
        if [ "$deepen" -gt 65536 ] || [ ! -f "$(git rev-parse --git-dir)/shallow" ]; then
            echo "no merge base of HEAD and $base in the fetched history" >&2
            return 1
        fi
        git fetch --quiet --no-tags --deepen="$deepen" origin "$(git rev-parse HEAD)" "$base" >&2 \
            || return 1
        deepen=$((deepen * 4))
    done
    echo "$merge_base"
}

cd "$INPUT_TREE"
results="$RUNNER_TEMP/kmeminit"
mkdir -p "$results"
sarif="$results/kmeminit.sarif" json="$results/kmeminit.json" summary="$results/summary.md"
rm -f "$sarif" "$json" "$summary"

args=(-p "${INPUT_COMPDB:-.}" --store "$STORE/facts.db" --no-progress --fail-on "$INPUT_FAIL_ON"
      --sarif-output "$sarif" --json-output "$json" --markdown-output "$summary" --no-absent)
[ -z "$INPUT_CATEGORY" ] || args+=(--category "$INPUT_CATEGORY")
[ -z "$INPUT_CONFIG" ] || args+=(--config "$INPUT_CONFIG")
[ -z "$INPUT_JOBS" ] || args+=(-j "$INPUT_JOBS")
read -r -a paths <<< "$INPUT_PATHS"  # split at blanks, never globbed
case "$INPUT_MODE" in
    full) command=(check) ;;
    pull-request)
        base=$(base_revision) || fail "cannot find the pull request's base (see above)"
        echo "kmeminit: comparing with $base (the merge base)"
        command=(diff --base "$base") ;;
    *) fail "mode must be full or pull-request, got '$INPUT_MODE'" ;;
esac

echo "::add-matcher::$GITHUB_ACTION_PATH/examples/github/kmeminit-problem-matcher.json"
set +e
"$KMEMINIT" "${command[@]}" "${args[@]}" "${paths[@]}"
code=$?
set -e
echo "::remove-matcher owner=kmeminit::"
echo "::remove-matcher owner=kmeminit-note::"

counts=$(python3 - "$json" "$sarif" <<'PY'
import json, sys
try:
    report = json.load(open(sys.argv[1], encoding="utf-8"))
except (OSError, ValueError):
    print("0 0 ")
    sys.exit()
reported = report["summary"]["reported"]
errors = sum(1 for f in report["findings"] if f["level"] == "error" and not f.get("suppressed")
             and f.get("baseline_state") in (None, "new"))
run = json.load(open(sys.argv[2], encoding="utf-8"))["runs"][0]
category = run.get("automationDetails", {}).get("id", "")
print(reported, errors, category)
PY
)
read -r new errors category <<< "$counts"
out exit-code "$code"
out new-findings "$new"
out errors "$errors"
out category "${category:-}"
if [ -f "$sarif" ]; then out sarif "$sarif"; else out sarif ""; fi
if [ -f "$summary" ]; then cat "$summary" >> "$GITHUB_STEP_SUMMARY"; fi
if [ "$code" -ge 2 ]; then
    printf '\n**kmeminit could not complete the analysis (exit %s): see the log.**\n' "$code" \
        >> "$GITHUB_STEP_SUMMARY"
fi
