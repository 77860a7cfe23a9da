#!/usr/bin/env bash
# Installs the Debian packages smop needs to build, test and run, if missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liblua5.4-dev lua5.4           # the VM we embed, and the interpreter busted's tools expect
  libcurl4-openssl-dev           # HTTP client (multi interface)
  libssl-dev                     # SigV4 HMAC/SHA-256, TLS
  libuv1-dev                     # the event loop
  libmicrohttpd-dev              # the HTTP server for /metrics and the fakes
  libyaml-dev                    # YAML for Lua
  libpcre2-dev                   # the AWS models' (Java-style) regular expressions
  libcmocka-dev                  # C unit tests
  lua-busted lua-check           # Lua specs and lint
  awscli python3-botocore        # the real AWS CLI for end-to-end specs; API models
  ca-certificates curl             # curl: specs poke local test servers
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The end-to-end specs drive the real kubectl; machines here ship it as
# /usr/bin/kubectl, and Debian's kubernetes-client is the fallback.
if [ ! -x /usr/bin/kubectl ]; then
  missing+=(kubernetes-client)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
