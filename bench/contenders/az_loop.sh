#!/bin/bash
# Contender 3 of `make bench`: the key reset as a shell user writes it with the Azure CLI.
#
#   az_loop.sh IDS_FILE FORKS KEY_INCARNATION_ID [POLL_DELAY [POLL_TRIES]]
#
# Phase 1: `az vm update --key-incarnation-id` for every VM, FORKS at a time (xargs -P).
# Phase 2: `az vm get-instance-view` for every VM, FORKS at a time, polling (every POLL_DELAY s, default 2, at most POLL_TRIES times, default 30) until the
#          proxy agent's status shows the new keyIncarnationId.
# Each VM that fails a phase is written to failed-update.txt / unconfirmed.txt in the current directory.
# az must be on PATH and logged in (AZURE_CONFIG_DIR); the exit status is 0 only if every VM was confirmed.
set -u
ids=$1 forks=$2 kid=$3
export POLL_DELAY=${4:-2} POLL_TRIES=${5:-30}
: > failed-update.txt
: > unconfirmed.txt
# the proxy agent's status message (a JSON string) in the instance view
export Q="instanceView.extensions[?contains(type, 'ProxyAgent')] | [0].substatuses[?starts_with(code, 'ComponentStatus/ProxyAgentStatus')] | [0].message"

xargs -a "$ids" -P "$forks" -I{} sh -c '
  az vm update --ids "$1" --key-incarnation-id "$2" -o none || echo "$1" >> failed-update.txt
' _ {} "$kid"

xargs -a "$ids" -P "$forks" -I{} sh -c '
  for try in $(seq "$POLL_TRIES"); do
    az vm get-instance-view --ids "$1" --query "$Q" -o tsv | grep -Eq "\"keyIncarnationId\": ?\"$2\"" && exit 0
    sleep "$POLL_DELAY"
  done
  echo "$1" >> unconfirmed.txt
' _ {} "$kid"

echo "update failed: $(wc -l < failed-update.txt), unconfirmed: $(wc -l < unconfirmed.txt)"
[ ! -s failed-update.txt ] && [ ! -s unconfirmed.txt ]
