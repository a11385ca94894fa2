#!/usr/bin/env bash
# Start the MLflow tracking server that iqabench jobs log to (see mlflow/README.md).
#
# Settings come from the environment (defaults in brackets); extra arguments are passed on to `mlflow server`:
#   MLFLOW_HOST        interface to bind [127.0.0.1]: loopback unless you mean to serve a network
#   MLFLOW_PORT        port [5000]
#   MLFLOW_DATA        folder for the default SQLite store and artifacts [./mlflow-data]
#   MLFLOW_BACKEND     run/metric store URI [sqlite:///$MLFLOW_DATA/mlflow.db]; PostgreSQL for a team:
#                      postgresql://USER@HOST:5432/DB (password from ~/.pgpass or PGPASSWORD, never on this line)
#   MLFLOW_ARTIFACTS   where logged files go [$MLFLOW_DATA/artifacts]; any URI MLflow supports (s3://…, gs://…).
#                      The server proxies artifacts (--serve-artifacts), so clients need only the HTTP address.
#   MLFLOW_WORKERS     server worker processes [1]
#   MLFLOW_BIN         the mlflow executable [mlflow on PATH]
# The server runs in the foreground (exec): stop it with Ctrl-C or by signalling its process group.
set -euo pipefail

host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"
data="${MLFLOW_DATA:-./mlflow-data}"
workers="${MLFLOW_WORKERS:-1}"
bin="${MLFLOW_BIN:-mlflow}"

mkdir -p "$data"
data="$(cd "$data" && pwd)"
backend="${MLFLOW_BACKEND:-sqlite:///$data/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS:-$data/artifacts}"
case "$artifacts" in
  *://*) ;;
  *) mkdir -p "$artifacts" ;;
esac

# The server must not run MLflow's background job executor here; jobs are iqabench's (Ray) business.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

if ! command -v "$bin" >/dev/null 2>&1; then
  echo "serve.sh: '$bin' not found; activate the iqabench environment or set MLFLOW_BIN" >&2
  exit 127
fi
if [ "$host" != "127.0.0.1" ] && [ "$host" != "localhost" ] && [ "$host" != "::1" ]; then
  echo "serve.sh: binding $host:$port: anyone who can reach it can read and write runs (no authentication);" \
       "put it behind a firewall or an authenticating proxy" >&2
fi

echo "serve.sh: MLflow on http://$host:$port, store $backend, artifacts $artifacts" >&2
exec "$bin" server \
  --host "$host" \
  --port "$port" \
  --backend-store-uri "$backend" \
  --artifacts-destination "$artifacts" \
  --serve-artifacts \
  --workers "$workers" \
  "$@"
