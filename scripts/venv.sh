# Shared by scripts/run.sh and scripts/test.sh (sourced, not run): progress lines and the venv.
# shellcheck shell=bash

say() { printf '==> %s\n' "$*" >&2; }

# ensure_venv EXTRAS: venv + editable install of ".$EXTRAS" (e.g. "" or "[test]").
ensure_venv() {
    local extras="$1" name="${1:-[base]}" py="${PYTHON:-}"
    name="${name//[\[\]]/}"
    if [[ -z "$py" ]]; then
        if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
    fi
    if ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
        "$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
            echo "error: Python 3.11 is required (tried '$py'; set PYTHON=/path/to/python3.11)" >&2
            exit 1
        }
        say "creating .venv with $("$py" -c 'import sys; print(sys.executable)')"
        rm -rf .venv
        "$py" -m venv .venv
    fi
    local stamp=".venv/.cartrecovery-stamp-$name" hash
    hash="$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')"
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]]; then
        say "installing cartrecovery$extras into .venv (first run or pyproject.toml changed)"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
        echo "$hash" >"$stamp"
        # [test] includes the base dependencies: mark those current too.
        if [[ -n "$extras" ]]; then echo "$hash" >.venv/.cartrecovery-stamp-base; fi
    fi
    return 0
}
