#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine, as root. Idempotent:
# a second run changes nothing and says so. Works from any current directory.
#
#   apt:   Postfix (preseeded "No configuration"), swaks + its Perl TLS/SASL
#          modules, PostgreSQL, OpenSSL, GnuPG, python3-venv, CA certificates,
#          procps (+ libssl-dev, pkg-config for crates that link OpenSSL),
#          chromium + chromium-driver (headless browser tests in tests/web).
#          `apt-get update` runs only when a package is missing. While
#          installing, /usr/sbin/policy-rc.d (exit 101) keeps the packages'
#          own system services (postfix on 25, postgresql on 5432) from
#          starting: the tests start private instances themselves.
#   venv:  <repo>/.venv-test with moto[server] (S3 test server), dkimpy, pynacl (ed25519 DKIM),
#          standardwebhooks (webhook signatures), schemathesis (fuzzes the API
#          against its OpenAPI document), selenium (drives chromium for
#          tests/web) and pyotp (TOTP codes).
#   npm:   tests/web/node_modules from tests/web/package-lock.json (`npm ci`:
#          axe-core, the accessibility checker the browser tests inject);
#          skipped when the locked versions are already installed.
#
# Environment: SEALPOST_TEST_PYTHON picks the interpreter for the venv
# (default /usr/bin/python3, Debian's own, falling back to python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv-test"
say() { echo "setup-test-env: $*"; }

PKGS=(postfix swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl postgresql
      openssl gnupg python3-venv ca-certificates procps libssl-dev pkg-config prometheus
      chromium chromium-driver)

installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

MISSING=()
for p in "${PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done

if ((${#MISSING[@]})); then
    if [[ $(id -u) != 0 ]]; then
        say "missing packages: ${MISSING[*]} -- run this script as root" >&2
        exit 1
    fi
    say "installing: ${MISSING[*]}"
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        trap 'exit 130' INT TERM
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string localhost" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
    say "installed ${#MISSING[@]} package(s)"
else
    say "apt packages already installed"
fi

PY=${SEALPOST_TEST_PYTHON:-}
if [[ -z $PY ]]; then
    if [[ -x /usr/bin/python3 ]]; then PY=/usr/bin/python3; else PY=python3; fi
fi

if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
fi
IMPORTS='import moto, flask, dkim, nacl, standardwebhooks, schemathesis, selenium, pyotp'
if "$VENV/bin/python" -c "$IMPORTS" >/dev/null 2>&1 && [[ -x $VENV/bin/moto_server && -x $VENV/bin/schemathesis ]]; then
    say "venv $VENV ready (moto, dkimpy, pynacl, standardwebhooks, schemathesis, selenium, pyotp)"
else
    say "installing moto[server], dkimpy, pynacl, standardwebhooks, schemathesis, selenium and pyotp into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check 'moto[server]' dkimpy pynacl standardwebhooks schemathesis \
        selenium pyotp
    "$VENV/bin/python" -c "$IMPORTS"
    [[ -x $VENV/bin/moto_server && -x $VENV/bin/schemathesis ]]
    say "venv $VENV installed"
fi

# axe-core for the browser tests, exactly as locked in tests/web/package-lock.json.
# `npm ci` wipes and reinstalls node_modules, so it runs only when an installed
# version differs from the lock (or node_modules is missing).
WEB="$ROOT/tests/web"
if [[ -f $WEB/package-lock.json ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        say "npm not found: install node 20 + npm for the browser tests" >&2
        exit 1
    fi
    web_deps_current() {
        node -e '
            const fs = require("fs"), path = require("path");
            const dir = process.argv[1];
            const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
            for (const [p, meta] of Object.entries(lock.packages || {})) {
                if (!p.startsWith("node_modules/")) continue;
                const f = path.join(dir, p, "package.json");
                if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== meta.version) process.exit(1);
            }' "$WEB"
    }
    if web_deps_current; then
        say "tests/web/node_modules ready (as locked)"
    else
        say "installing tests/web/node_modules (npm ci)"
        (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
        web_deps_current
        say "tests/web/node_modules installed"
    fi
fi
say "done"
