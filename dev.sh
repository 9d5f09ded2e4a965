#!/usr/bin/env bash
# One entry point for people and CI:  ./dev.sh demo | ./dev.sh test | ./dev.sh test-quick | ./dev.sh setup | ./dev.sh lint
# Each command creates or updates the project's own .venv first, so both work from a fresh clone and are safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv

# The browser test (tests/faces/test_ui_browser.py) drives Debian's chromium through Playwright; `playwright install`
# would download its own browser, which offline machines cannot. Installed only when missing, and only where apt is.
browser() {
    command -v chromium >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || { echo "==> no chromium and no apt-get: the browser test will skip" >&2; return 0; }
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "==> installing chromium for the browser test (apt)" >&2
    $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

setup() {
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    local stamp="$VENV/.installed" want
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
    echo "==> installing into $VENV (first time takes about 2 minutes)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # torch first and alone, pinned: any resolver left free to choose would pull a multi-GB CUDA build.
    "$VENV/bin/python" -m pip install -q "torch==2.13.0"
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
    # scenedetect hard-requires the GUI opencv (system libGL); its real needs come with the project.
    "$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps scenedetect
    # The official LTX-2 code, a test oracle only (tests/parity): it declares torch~=2.7 and torchaudio, so it goes in
    # without its dependencies; what the oracle imports needs only einops and scipy (the dev extras).
    "$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps ltx-core
    echo "$want" > "$stamp"
}

case "${1:-help}" in
    setup) setup; browser ;;
    demo)
        setup
        shift
        exec "$VENV/bin/extend-suffix" demo "$@" ;;
    test|test-quick)
        # The suite runs on one pytest-xdist worker per core (TEST_WORKERS overrides; 0 runs it in this process), each
        # test file on one worker so its module fixtures are built once. test-quick leaves out the tests marked slow
        # (the job through Prefect, the browser, the queue API servers, the oracle): the edit-test loop.
        setup
        quick=()
        if [ "$1" = test-quick ]; then quick=(-m "not slow"); else browser; fi
        shift
        export PREFECT_SERVER_ANALYTICS_ENABLED=false
        set +e
        "$VENV/bin/python" -m pytest -n "${TEST_WORKERS:-auto}" --dist loadfile "${quick[@]}" "$@"
        rc=$?
        # pytest exits 5 when it collected nothing; that is a broken suite, never a pass.
        [ $rc -eq 5 ] && echo "no tests were collected" >&2
        exit $rc ;;
    lint)
        setup
        "$VENV/bin/ruff" check .
        exec "$VENV/bin/ruff" format --check . ;;
    *)
        echo "usage: ./dev.sh demo|test|test-quick|setup|lint" >&2
        exit 2 ;;
esac
