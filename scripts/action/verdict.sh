#!/usr/bin/env bash
# kmeminit GitHub Action, step "verdict": fail the job, after the upload, when the analysis
# reported findings at or above fail-on (exit 1) or could not be completed (exit 2).
set -euo pipefail

case "$EXIT_CODE" in
    0) echo "kmeminit: no reported finding at or above '$INPUT_FAIL_ON'" ;;
    1) findings=findings
       [ "$NEW_FINDINGS" != 1 ] || findings=finding
       echo "::error title=kmeminit::kmeminit reported $NEW_FINDINGS $findings ($ERRORS errors)" \
            "at or above '$INPUT_FAIL_ON': see the job summary"
       exit 1 ;;
    *) echo "::error title=kmeminit::the analysis was not completed (exit ${EXIT_CODE:-none}):" \
            "see the analyse step's log"
       exit 2 ;;
esac
