# Sourced by run.sh and test.sh: makes sure the machine has what the platform needs, installing
# what is missing with apt-get when we are root, else printing the exact command and failing.
# "ensure_prerequisites browser" (test.sh) also wants Chromium, which the storefront's browser tests drive, and
# kubectl, whose kustomize the deployment tests build the manifests with (Debian's kubernetes-client when missing).

ensure_prerequisites() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET 10 SDK is missing; install it from https://dot.net (dotnet-sdk-10.0)" >&2
    return 1
  fi

  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # The storefront serves Segment's browser SDK, installed from the npm registry when it builds.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${1:-}" = browser ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  fi

  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi

  local install="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing ${missing[*]}. Install with: sudo sh -c '$install'" >&2
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
    return 1
  fi
  echo "installing ${missing[*]} ..."
  # The packages' own scripts may try to start system services; the platform never uses those.
  sh -c "$install" >/dev/null
}
