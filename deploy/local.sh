#!/usr/bin/env bash
# The production-shaped loantrace stack on one machine, each part its own process:
# anvil (state kept in a file), a PostgreSQL database, the contracts deployed with
# `loantrace deploy` from encrypted keystores, two API processes in prod mode,
# `loantrace index` and `loantrace keeper`. Logs and pids live in the state directory.
#
#   deploy/local.sh up        create (first time) and start the stack
#   deploy/local.sh status    what runs, where, and how far the indexer is
#   deploy/local.sh restart   stop and start every process (anvil included); data stays
#   deploy/local.sh down      stop every process; data stays
#   deploy/local.sh purge     stop, drop the database and its role, delete the state directory
#   deploy/local.sh smoke     from a clean state: up, a loan's life over HTTP, backup and
#                             restore, restart, check again, down, purge (exit 1 on a failure)
#   deploy/local.sh env       print the service's environment file (for `set -a; . <(...)`)
#
# Knobs (environment): STACK_DIR (state directory; default deploy/.state/stack, and
# deploy/.state/smoke for `smoke`), STACK_PG_URL (a PostgreSQL server, no database;
# default postgresql://postgres@127.0.0.1:5432), STACK_BIN (the venv's bin directory),
# STACK_KEEP=1 (smoke: leave the stack running and its data in place), ANVIL (anvil binary).
# deploy/README.md is the runbook this script follows step by step.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
COMMAND=${1:-help}
if [[ $COMMAND == smoke ]]; then
    STATE=${STACK_DIR:-$HERE/.state/smoke}
else
    STATE=${STACK_DIR:-$HERE/.state/stack}
fi
BIN=${STACK_BIN:-$ROOT/.venv/bin}
LOANTRACE=$BIN/loantrace
PY=$BIN/python
PG_SERVER=${STACK_PG_URL:-postgresql://postgres@127.0.0.1:5432}
PG_SERVER=${PG_SERVER%/}
PROCESSES=(anvil api-1 api-2 indexer keeper receiver)

# The stack's settings come from its environment file only: nothing from the caller's
# environment (a developer's LOANTRACE_* or a .env file) leaks into it.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^LOANTRACE_' || true)

say() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_tools() {
    local tool
    for tool in curl jq psql pg_dump pg_restore pg_isready openssl sha256sum setsid; do
        command -v "$tool" >/dev/null || die "$tool is not installed"
    done
    [[ -x $LOANTRACE ]] || die "$LOANTRACE missing: run \`make demo\` (or set STACK_BIN)"
}

# ---- state files ------------------------------------------------------------------------

STACK_FILE=$STATE/stack.env     # ports, chain id, database name, addresses (this script's)
ENV_FILE=$STATE/loantrace.env   # the service's settings (EnvironmentFile / env_file format)

load_stack() {
    [[ -f $STACK_FILE ]] || die "no stack in $STATE: run \`deploy/local.sh up\` first"
    # shellcheck disable=SC1090
    . "$STACK_FILE"
    RPC=http://127.0.0.1:$ANVIL_PORT
    API1=http://127.0.0.1:$API1_PORT
    API2=http://127.0.0.1:$API2_PORT
}

remember() {  # remember NAME VALUE: append to the stack file and set it here
    printf '%s=%q\n' "$1" "$2" >>"$STACK_FILE"
    printf -v "$1" '%s' "$2"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a loantrace command with the service's settings, from the state directory (so no
# stray .env is read), like systemd's EnvironmentFile or compose's env_file would.
lt() {
    (
        cd "$STATE"
        set -a
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        set +a
        exec "$LOANTRACE" "$@"
    )
}

# ---- processes --------------------------------------------------------------------------

pid_of() { [[ -f $STATE/pids/$1.pid ]] && cat "$STATE/pids/$1.pid" || true; }

running() {
    local pid
    pid=$(pid_of "$1")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# start NAME WITH_ENV COMMAND...: detach COMMAND in a session of its own, stdin closed,
# output appended to logs/NAME.log, pid in pids/NAME.pid.
start() {
    local name=$1 with_env=$2
    shift 2
    if running "$name"; then
        say "  $name already running (pid $(pid_of "$name"))"
        return 0
    fi
    (
        cd "$STATE"
        if [[ $with_env == yes ]]; then
            set -a
            # shellcheck disable=SC1090
            . "$ENV_FILE"
            set +a
        fi
        exec setsid "$@"
    ) >>"$STATE/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/pids/$name.pid"
    say "  started $name (pid $!, log $STATE/logs/$name.log)"
}

signal_group() {  # signal_group SIGNAL PID: the process's session, else the process
    kill "-$1" -- "-$2" 2>/dev/null || kill "-$1" "$2" 2>/dev/null || true
}

# stop NAME...: SIGTERM to each at once, SIGKILL to any still alive after 20 s.
stop() {
    local name pid entry waited=0 alive=()
    for name in "$@"; do
        pid=$(pid_of "$name")
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            signal_group TERM "$pid"
            alive+=("$name:$pid")
        else
            rm -f "$STATE/pids/$name.pid"
        fi
    done
    for entry in "${alive[@]}"; do
        pid=${entry#*:}
        while kill -0 "$pid" 2>/dev/null && ((waited < 200)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "  ${entry%%:*} ignored SIGTERM for 20 s: SIGKILL"
            signal_group KILL "$pid"
        fi
        rm -f "$STATE/pids/${entry%%:*}.pid"
        say "  stopped ${entry%%:*}"
    done
}

# The services first, together; the node last, so none of them loses it mid-request.
stop_all() {
    stop receiver keeper indexer api-2 api-1
    stop anvil
}

log_tail() {
    local name=$1
    [[ -f $STATE/logs/$name.log ]] || return 0
    say "---- last lines of $STATE/logs/$name.log"
    tail -n "${2:-25}" "$STATE/logs/$name.log" | cut -c1-400
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds; fail early if NAME died.
wait_for() {
    local name=$1 seconds=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if ! running "$name"; then
            log_tail "$name" 40 >&2
            die "$name exited"
        fi
        ((SECONDS < deadline)) || {
            log_tail "$name" 40 >&2
            die "$name not ready after ${seconds}s"
        }
        sleep 0.2
    done
}

# ---- the chain --------------------------------------------------------------------------

rpc() {  # rpc METHOD PARAMS_JSON: print the JSON-RPC result
    local reply
    reply=$(curl -sS --max-time 10 -H 'content-type: application/json' \
        --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC") || return 1
    jq -e 'has("result")' >/dev/null <<<"$reply" || { say "$1: $reply" >&2; return 1; }
    jq -c '.result' <<<"$reply"
}

chain_time() { printf '%d' "$(rpc eth_getBlockByNumber '["latest", false]' | jq -r '.timestamp')"; }

find_anvil() {
    if [[ -n ${ANVIL:-} ]]; then
        echo "$ANVIL"
        return
    fi
    (cd "$ROOT" && "$PY" -c 'from loantrace.chain.localnode import find_anvil; print(find_anvil())')
}

start_anvil() {
    start anvil no "$(find_anvil)" --host 127.0.0.1 --port "$ANVIL_PORT" \
        --chain-id "$CHAIN_ID" --state "$STATE/anvil/anvil.json" --state-interval 1
    wait_for anvil 30 rpc eth_chainId '[]'
    # anvil reloads its blocks but not the clock offset evm_increaseTime gave it: carry the
    # chain's time on from its newest block, so block times never go backwards.
    local newest now
    newest=$(chain_time)
    now=$(date +%s)
    if ((newest >= now)); then
        rpc evm_increaseTime "[$((newest - now + 1))]" >/dev/null
        say "  anvil clock carried on to the newest block's time (+$((newest - now + 1))s)"
    fi
}

fund() {  # give an account 100 ETH on anvil (no cast needed)
    rpc anvil_setBalance "[\"$1\", \"0x56bc75e2d63100000\"]" >/dev/null
}

# ---- PostgreSQL -------------------------------------------------------------------------

pg_reachable() { pg_isready -q -d "$PG_SERVER/postgres"; }

ensure_postgres() {
    if pg_reachable; then
        return 0
    fi
    # No server answers: run one of our own in the state directory (never as root).
    command -v initdb >/dev/null && command -v pg_ctl >/dev/null ||
        die "no PostgreSQL at $PG_SERVER and no initdb/pg_ctl to start one"
    ((EUID != 0)) || die "no PostgreSQL at $PG_SERVER, and initdb refuses to run as root"
    say "  no PostgreSQL at $PG_SERVER: running one in $STATE/postgres"
    initdb -D "$STATE/postgres" -U postgres --auth=trust >"$STATE/logs/initdb.log" 2>&1
    remember OWN_POSTGRES "$STATE/postgres"
    remember PG_SERVER "postgresql://postgres@127.0.0.1:$(free_port)"
    start_own_postgres
}

start_own_postgres() {  # the server ensure_postgres made, if any, on its port
    [[ -n ${OWN_POSTGRES:-} ]] || return 0
    pg_ctl -D "$OWN_POSTGRES" status >/dev/null 2>&1 && return 0
    local port=${PG_SERVER##*:}
    pg_ctl -D "$OWN_POSTGRES" -l "$STATE/logs/postgres.log" -w \
        -o "-p $port -k $OWN_POSTGRES -c listen_addresses=127.0.0.1" start >/dev/null
    say "  started PostgreSQL in $OWN_POSTGRES on port $port"
}

stop_own_postgres() {
    [[ -n ${OWN_POSTGRES:-} ]] || return 0
    pg_ctl -D "$OWN_POSTGRES" status >/dev/null 2>&1 || return 0
    pg_ctl -D "$OWN_POSTGRES" -m fast -w stop >/dev/null
    say "  stopped PostgreSQL in $OWN_POSTGRES"
}

psql_admin() {
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 \
        -d "$PG_SERVER/postgres" "$@"
}

# ---- up ---------------------------------------------------------------------------------

create_keystore() {  # create_keystore FILE PASSWORD_FILE: print the new address
    "$LOANTRACE" keystore create "$1" --password-file "$2" | tail -n 1
}

init_stack() {
    say "creating the stack in $STATE"
    mkdir -p "$STATE"/{logs,pids,anvil,keys/service,keys/admin,secrets,deployments,work}
    chmod 700 "$STATE" "$STATE/keys" "$STATE/secrets"
    : >"$STACK_FILE"
    remember PG_SERVER "$PG_SERVER"
    remember ANVIL_PORT "$(free_port)"
    remember API1_PORT "$(free_port)"
    remember API2_PORT "$(free_port)"
    remember RECEIVER_PORT "$(free_port)"
    # A chain id of its own (as `serve` does): receipts from another stack name another chain.
    remember CHAIN_ID "$((1000000000000 + 0x$(openssl rand -hex 5)))"
    remember DB_NAME "loantrace_stack_$(openssl rand -hex 4)"
    RPC=http://127.0.0.1:$ANVIL_PORT

    say "1. keys: encrypted keystores; the service holds the lender's and the regulator's only"
    umask 077
    openssl rand -hex 24 >"$STATE/secrets/keystore-password"
    openssl rand -hex 24 >"$STATE/secrets/admin-password"
    umask 022
    local pw=$STATE/secrets/keystore-password apw=$STATE/secrets/admin-password
    remember LENDER "$(create_keystore "$STATE/keys/service/lender.json" "$pw")"
    remember REGULATOR "$(create_keystore "$STATE/keys/service/regulator.json" "$pw")"
    remember ADMIN "$(create_keystore "$STATE/keys/admin/admin.json" "$apw")"
    remember DEPLOYER "$(create_keystore "$STATE/keys/admin/deployer.json" "$apw")"
    say "   lender $LENDER, regulator $REGULATOR, admin $ADMIN, deployer $DEPLOYER"

    say "2. database $DB_NAME (and a role of the same name) on $PG_SERVER"
    ensure_postgres
    psql_admin -c "CREATE ROLE $DB_NAME LOGIN" -c "CREATE DATABASE $DB_NAME OWNER $DB_NAME"

    say "3. anvil, chain id $CHAIN_ID, state in $STATE/anvil/anvil.json"
    start_anvil
    local account
    for account in "$DEPLOYER" "$ADMIN" "$LENDER" "$REGULATOR"; do
        fund "$account"
    done

    say "4. deploy the contracts; the deployer grants the roles file's roles, hands admin over"
    jq -n --arg lender "$LENDER" --arg regulator "$REGULATOR" \
        '{notary: [$lender], regulator: [$regulator]}' >"$STATE/roles.json"
    "$LOANTRACE" deploy --rpc "$RPC" \
        --admin "$ADMIN" --roles "$STATE/roles.json" --out "$STATE" \
        --keystore "$STATE/keys/admin/deployer.json" --password-file "$apw" \
        >"$STATE/logs/deploy.log" 2>&1 || { cat "$STATE/logs/deploy.log" >&2; die "deploy failed"; }
    local book=$STATE/deployments/$CHAIN_ID.json
    [[ -f $book ]] || die "deploy wrote no address book $book"
    remember ADDRESS_BOOK "$book"
    "$LOANTRACE" integrity --rpc "$RPC" --address-book "$book" >"$STATE/logs/integrity.log" 2>&1 ||
        { cat "$STATE/logs/integrity.log" >&2; die "the deployed code does not match"; }
    say "   address book $book (integrity checked)"

    say "5. the service's environment file $ENV_FILE"
    write_env_file
}

write_env_file() {
    local data_key master_key admin_token
    data_key=$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
    master_key=k1:$(openssl rand -base64 32)
    admin_token=$(openssl rand -hex 32)
    umask 077
    cat >"$ENV_FILE" <<EOF
LOANTRACE_MODE=prod
LOANTRACE_RPC_URL=$RPC
LOANTRACE_DATABASE_URL=postgresql://$DB_NAME@${PG_SERVER#*@}/$DB_NAME
LOANTRACE_ADDRESS_BOOK=$ADDRESS_BOOK
LOANTRACE_KEYSTORE_DIR=$STATE/keys/service
LOANTRACE_KEYSTORE_PASSWORD_FILE=$STATE/secrets/keystore-password
LOANTRACE_REGULATOR_ADDRESS=$REGULATOR
LOANTRACE_DATA_KEY=$data_key
LOANTRACE_MASTER_KEYS=$master_key
LOANTRACE_ADMIN_KEY=$admin_token
LOANTRACE_PUBLIC_URL=http://127.0.0.1:$API1_PORT
LOANTRACE_WEBHOOK_ALLOW_HOSTS=127.0.0.1/32
LOANTRACE_WEBHOOK_BACKOFF_SECONDS=1
LOANTRACE_KEEPER_INTERVAL_SECONDS=5
LOANTRACE_LOG_FORMAT=json
EOF
    umask 022
}

start_services() {
    say "6. migrate once (schema under an advisory lock, database bound to the chain)"
    lt index --once >>"$STATE/logs/migrate.log" 2>&1 ||
        { log_tail migrate 40 >&2; die "migration (loantrace index --once) failed"; }
    say "7. two API processes, the indexer and the keeper"
    start api-1 yes "$LOANTRACE" serve --host 127.0.0.1 --port "$API1_PORT"
    start api-2 yes "$LOANTRACE" serve --host 127.0.0.1 --port "$API2_PORT"
    start indexer yes "$LOANTRACE" index
    start keeper yes "$LOANTRACE" keeper
    wait_for api-1 90 curl -fsS "$API1/readyz"
    wait_for api-2 90 curl -fsS "$API2/readyz"
    sleep 1
    local name
    for name in indexer keeper; do
        running "$name" || { log_tail "$name" 40 >&2; die "$name exited"; }
    done
    say "ready: API on $API1 and $API2, node $RPC"
}

cmd_up() {
    require_tools
    if [[ ! -f $ENV_FILE ]]; then
        cmd_purge >/dev/null  # what a creation that failed half-way left behind
        init_stack
    else
        load_stack
        say "starting the stack in $STATE"
        start_own_postgres
        pg_reachable || die "PostgreSQL at $PG_SERVER does not answer"
        say "3. anvil"
        start_anvil
    fi
    load_stack
    start_services
}

cmd_down() {
    [[ -d $STATE/pids ]] || { say "nothing runs in $STATE"; return 0; }
    say "stopping the stack in $STATE"
    stop_all
    if [[ -f $STACK_FILE ]]; then
        # shellcheck disable=SC1090
        . "$STACK_FILE"
        stop_own_postgres
    fi
}

cmd_restart() {
    load_stack
    cmd_down
    cmd_up
}

cmd_purge() {
    [[ -d $STATE ]] || return 0
    stop_all
    if [[ -f $STACK_FILE ]]; then
        # shellcheck disable=SC1090
        . "$STACK_FILE"
        if [[ -n ${OWN_POSTGRES:-} ]]; then
            stop_own_postgres  # the database goes with its directory
        elif [[ -n ${DB_NAME:-} ]] && pg_reachable; then
            psql_admin -c "DROP DATABASE IF EXISTS ${DB_NAME}_restored" \
                -c "DROP DATABASE IF EXISTS $DB_NAME" -c "DROP ROLE IF EXISTS $DB_NAME"
            say "dropped database and role $DB_NAME"
        fi
    fi
    rm -rf "$STATE"
    say "removed $STATE"
}

cmd_status() {
    load_stack
    local name pid
    for name in "${PROCESSES[@]}"; do
        pid=$(pid_of "$name")
        if running "$name"; then
            printf '%-9s running (pid %s)\n' "$name" "$pid"
        else
            printf '%-9s stopped\n' "$name"
        fi
    done
    say "node      $RPC (chain $CHAIN_ID)$(running anvil && printf ', block %d' "$(rpc eth_blockNumber '[]' | jq -r .)")"
    say "api       $API1 $(curl -s -o /dev/null -w '%{http_code}' "$API1/readyz" || true), $API2 $(curl -s -o /dev/null -w '%{http_code}' "$API2/readyz" || true) (readyz)"
    say "database  ${PG_SERVER}/$DB_NAME, index cursor $(psql -X -Atq -d "$PG_SERVER/$DB_NAME" -c "SELECT block_number FROM cursors WHERE name = 'indexer'" 2>/dev/null || echo '?')"
    say "logs      $STATE/logs"
}

# ---- smoke ------------------------------------------------------------------------------

WORK=
STEP="start"
PASSED=()

# http EXPECTED METHOD URL [curl args]: print the body; fail unless the status is EXPECTED.
http() {
    local want=$1 method=$2 url=$3 out code
    shift 3
    out=$(mktemp -p "$WORK")
    code=$(curl -sS --max-time 120 -o "$out" -w '%{http_code}' -X "$method" "$url" "$@") ||
        { say "$method $url: no answer" >&2; return 1; }
    if [[ $code != "$want" ]]; then
        say "$method $url: HTTP $code, expected $want: $(head -c 800 "$out")" >&2
        return 1
    fi
    cat "$out"
}

check() {  # check DESCRIPTION TEST...: fail the step with DESCRIPTION unless TEST succeeds
    local what=$1
    shift
    "$@" || { say "check failed: $what" >&2; return 1; }
}

step() {  # step NAME FUNCTION: run one smoke step; stop at the first failure
    local began=$SECONDS
    STEP=$1
    say ""
    say "==> $1"
    "$2"
    PASSED+=("$1")
    say "    ($((SECONDS - began)) s)"
}

smoke_keys() {
    # The first key from the command line (on the database), the next with the admin token.
    LENDER_TOKEN=$(lt keys create --role lender --lender "$LENDER" --name "smoke lender" | tail -n 1)
    local admin_token
    admin_token=$(sed -n 's/^LOANTRACE_ADMIN_KEY=//p' "$ENV_FILE")
    REG_TOKEN=$(http 201 POST "$API2/v1/keys" -H "Authorization: Bearer $admin_token" \
        -H 'content-type: application/json' -d '{"role": "regulator", "name": "smoke regulator"}' |
        jq -r .token)
    check "lender token made" [ "${LENDER_TOKEN:0:3}" = lt_ ]
    check "regulator token made" [ "${REG_TOKEN:0:3}" = lt_ ]
    AUTH=(-H "Authorization: Bearer $LENDER_TOKEN")
    REG=(-H "Authorization: Bearer $REG_TOKEN")
    say "   API keys for the lender (loantrace keys create) and the regulator (POST /v1/keys)"
}

smoke_roles() {
    REPORTER=$(create_keystore "$STATE/keys/admin/reporter.json" "$STATE/secrets/admin-password")
    fund "$ADMIN"
    lt roles grant reporter "$REPORTER" --keystore "$STATE/keys/admin/admin.json" \
        --password-file "$STATE/secrets/admin-password"
    local members
    members=$(lt roles list)
    say "$members"
    check "reporter granted by the admin" grep -qi "reporter.*$REPORTER" <<<"$members"
    check "the lender is a notary" grep -qi "notary.*$LENDER" <<<"$members"
    check "the deployer kept no role" bash -c "! grep -qi '$DEPLOYER' <<<\"\$1\"" _ "$members"
}

smoke_ready() {
    local one two
    one=$(http 200 GET "$API1/readyz")
    two=$(http 200 GET "$API2/readyz")
    check "api-1 signs for the lender" [ "$(jq -r .lender <<<"$one")" = "$LENDER" ]
    check "api-2 signs for the lender" [ "$(jq -r .lender <<<"$two")" = "$LENDER" ]
    http 200 GET "$API1/healthz" >/dev/null
    say "   both API processes ready: $(jq -c .checks <<<"$one")"
}

smoke_webhook() {
    local hook
    hook=$(http 201 POST "$API1/v1/webhooks" "${AUTH[@]}" -H 'content-type: application/json' \
        -d "{\"url\": \"http://127.0.0.1:$RECEIVER_PORT/hooks/loantrace\"}")
    HOOK_ID=$(jq -r .id <<<"$hook")
    umask 077
    jq -r .secret <<<"$hook" >"$WORK/hook.secret"
    umask 022
    start receiver no "$PY" "$HERE/webhook_receiver.py" --port "$RECEIVER_PORT" \
        --secret-file "$WORK/hook.secret" --out "$WORK/received.jsonl"
    wait_for receiver 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RECEIVER_PORT"
    say "   webhook $HOOK_ID registered; receiver on port $RECEIVER_PORT"
}

smoke_sign() {
    local now start_day first_due
    now=$(chain_time)
    start_day=$(date -u -d "@$now" +%F)
    first_due=$(date -u -d "$start_day + 30 days" +%F)
    printf 'LOAN AGREEMENT No. SMOKE-%s\nPrincipal 3,000.00 CNY, APR 11.50%%, 3 instalments\n' \
        "$(openssl rand -hex 4)" >"$WORK/loan.txt"
    jq -n --arg start "$start_day" --arg first "$first_due" '{principal: 300000,
        currency: "CNY", apr_bps: 1150, instalments: 3, start_date: $start,
        repayment_method: "annuity", first_due_date: $first, purpose: "CONSUMPTION"}' \
        >"$WORK/terms.json"
    LOANTRACE_BORROWER_KEY=0x$(openssl rand -hex 32) "$LOANTRACE" sign "$WORK/loan.txt" \
        --terms "$WORK/terms.json" --api "$API1" --borrower-commitment "0x$(openssl rand -hex 32)"
    check "the borrower's signature is written" \
        jq -e '.borrower_signature | startswith("0x")' "$WORK/loan.txt.agreement.json"
}

smoke_notarise() {
    LOANTRACE_API_KEY=$LENDER_TOKEN "$LOANTRACE" notarise "$WORK/loan.txt" --api "$API1"
    local receipt=$WORK/loan.txt.receipt.json
    DIGEST=0x$(sha256sum "$WORK/loan.txt" | cut -c1-64)
    check "the receipt names the document's SHA-256" [ "$(jq -r .digest "$receipt")" = "$DIGEST" ]
    check "the receipt is on chain $CHAIN_ID" [ "$(jq -r .chain_id "$receipt")" = "$CHAIN_ID" ]
    check "notarised" [ "$(jq -r .status "$receipt")" = notarised ]
}

smoke_verify() {
    "$LOANTRACE" verify "$WORK/loan.txt" --api "$API2" --receipt "$WORK/loan.txt.receipt.json"
    sed 's/11.50/71.50/' "$WORK/loan.txt" >"$WORK/tampered.txt"
    local verdict
    verdict=$(http 200 POST "$API2/v1/verify" -F "document=@$WORK/tampered.txt" | jq -r .verdict)
    check "a tampered copy is not_found (got $verdict)" [ "$verdict" = not_found ]
}

smoke_loan() {
    local loan first due
    loan=$(http 201 POST "$API2/v1/loans" "${AUTH[@]}" -H 'content-type: application/json' \
        -d "{\"digest\": \"$DIGEST\"}")
    LOAN=$(jq -r .loan_id <<<"$loan")
    BORROWER_ACCOUNT=0x$(openssl rand -hex 32)
    SHOP=0x$(openssl rand -hex 32)
    http 201 POST "$API1/v1/loans/$LOAN/disbursements" "${AUTH[@]}" \
        -H 'content-type: application/json' -d "{\"amount\": 300000,
        \"to_account\": \"$BORROWER_ACCOUNT\", \"external_ref\": \"SMOKE-D1\"}" >/dev/null
    first=$(jq '.schedule[0] | .principal + .interest + .fees' <<<"$loan")
    local repayment="{\"amount\": $first, \"from_account\": \"$BORROWER_ACCOUNT\",
        \"external_ref\": \"SMOKE-R1\"}"
    http 201 POST "$API2/v1/loans/$LOAN/repayments" "${AUTH[@]}" \
        -H 'content-type: application/json' -d "$repayment" >/dev/null
    http 200 POST "$API1/v1/loans/$LOAN/repayments" "${AUTH[@]}" \
        -H 'content-type: application/json' -d "$repayment" >/dev/null  # a retry counts once
    loan=$(http 200 GET "$API1/v1/loans/$LOAN" "${AUTH[@]}")
    check "instalment 1 is paid" [ "$(jq -r '.schedule[0].status' <<<"$loan")" = paid ]
    due=$(jq '.schedule[1].principal + .schedule[1].interest' <<<"$loan")
    say "   loan $LOAN: disbursed 300000, repaid $first (instalment 1); $due due next"
}

smoke_trace() {
    http 200 POST "$API1/v1/accounts/$SHOP/label" "${REG[@]}" \
        -H 'content-type: application/json' -d '{"category": "SECURITIES"}' >/dev/null
    http 201 POST "$API2/v1/loans/$LOAN/transfers" "${AUTH[@]}" \
        -H 'content-type: application/json' -d "{\"from_account\": \"$BORROWER_ACCOUNT\",
        \"to_account\": \"$SHOP\", \"amount\": 80000, \"purpose\": \"CONSUMPTION\",
        \"external_ref\": \"SMOKE-T1\"}" >/dev/null
    http 200 GET "$API1/v1/loans/$LOAN/flows?policy=fifo&max_hops=6" "${REG[@]}" >"$WORK/flows.json"
    check "the disbursement and the transfer are traced" \
        jq -e --arg shop "$SHOP" '[.edges[] | select(.to_account == $shop and .tainted > 0)]
            | length == 1' "$WORK/flows.json"
    check "the broker is a destination, labelled SECURITIES" \
        jq -e --arg shop "$SHOP" '[.destinations[] | select(.account == $shop
            and .category == "SECURITIES")] | length == 1' "$WORK/flows.json"
    http 200 GET "$API2/v1/loans/$LOAN/audit" "${REG[@]}" >"$WORK/audit.json"
    check "the audit flags prohibited_use with chain evidence" \
        jq -e '[.[] | select(.rule == "prohibited_use" and (.evidence | length) > 0)]
            | length >= 1' "$WORK/audit.json"
    say "   $(jq '.edges | length' "$WORK/flows.json") edges traced; findings: $(jq -c '[.[].rule]' "$WORK/audit.json")"
}

reminders_for() {  # reminders_for INSTALMENT: how many the receiver accepted
    [[ -f $WORK/received.jsonl ]] || { echo 0; return; }
    jq -s --arg loan "$LOAN" --argjson i "$1" \
        '[.[] | select(.loan_id == $loan and .instalment == $i)] | length' "$WORK/received.jsonl"
}

smoke_reminder() {
    # 65 days on: instalment 2 (due at day 60) is 5 days late; instalment 1 was paid.
    rpc evm_increaseTime '[5616000]' >/dev/null
    rpc evm_mine '[]' >/dev/null
    lt keeper --once
    local deadline=$((SECONDS + 60))
    until (($(reminders_for 1) > 0)); do
        ((SECONDS < deadline)) || { log_tail keeper >&2; log_tail receiver >&2; return 1; }
        sleep 0.5
    done
    check "no reminder for the paid instalment" [ "$(reminders_for 0)" = 0 ]
    local stages listed
    stages=$(jq -s -c --arg loan "$LOAN" '[.[] | select(.loan_id == $loan) | .stage_name]' \
        "$WORK/received.jsonl")
    listed=$(http 200 GET "$API2/v1/loans/$LOAN/reminders" "${AUTH[@]}" | jq length)
    check "the API lists the reminders" [ "$listed" -ge 1 ]
    http 200 GET "$API1/v1/webhooks/$HOOK_ID/deliveries" "${AUTH[@]}" >"$WORK/deliveries.json"
    check "deliveries are recorded as delivered" \
        jq -e '[.deliveries[] | select(.status == "delivered")] | length >= 1' \
        "$WORK/deliveries.json"
    say "   received signed reminders for instalment 2: $stages; the API lists $listed"
}

smoke_metrics() {
    local code
    code=$(curl -s -o "$WORK/metrics.txt" -w '%{http_code}' "$API1/metrics" || true)
    if [[ $code != 200 ]]; then
        say "   GET /metrics answers $code: not checked"
        return 0
    fi
    check "/metrics is Prometheus text with loantrace figures" grep -q '^loantrace_' "$WORK/metrics.txt"
    say "   /metrics: $(grep -c '^loantrace_' "$WORK/metrics.txt") loantrace samples"
}

events_digest() {  # events_digest DATABASE UP_TO_BLOCK: count and md5 of the indexed events
    psql -X -Atq -v ON_ERROR_STOP=1 -d "$(db_url "$1")" -c "SELECT count(*) || ' ' ||
        coalesce(md5(string_agg(tx_hash || ':' || log_index || ':' || event || ':' || args_json,
        ',' ORDER BY block_number, log_index)), '-')
        FROM chain_events WHERE block_number <= $2"
}

index_cursor() {
    psql -X -Atq -d "$(db_url "$1")" -c "SELECT block_number FROM cursors WHERE name = 'indexer'"
}

db_url() { printf 'postgresql://%s@%s/%s' "$DB_NAME" "${PG_SERVER#*@}" "$1"; }

smoke_backup() {
    # The runbook's backup and restore, with the service's own database role.
    local dump=$WORK/loantrace.dump restored=${DB_NAME}_restored at before after live
    pg_dump -Fc -d "$(db_url "$DB_NAME")" -f "$dump"
    psql_admin -c "DROP DATABASE IF EXISTS $restored" -c "CREATE DATABASE $restored OWNER $DB_NAME"
    pg_restore --no-owner -d "$(db_url "$restored")" "$dump"
    at=$(index_cursor "$restored")
    before=$(events_digest "$restored" "$at")
    # Forget the index, then let the indexer rebuild it from the chain.
    psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$restored")" -c "BEGIN;
        DELETE FROM chain_events; DELETE FROM indexed_blocks;
        DELETE FROM cursors WHERE name = 'indexer'; COMMIT;"
    (
        set -a
        # shellcheck disable=SC1090
        . "$ENV_FILE"
        set +a
        LOANTRACE_DATABASE_URL=$(db_url "$restored")
        cd "$STATE" && exec "$LOANTRACE" index --once
    )
    after=$(events_digest "$restored" "$at")
    live=$(events_digest "$DB_NAME" "$at")
    say "   events up to block $at: backup $before, re-indexed $after, live $live"
    check "the restored database re-indexes to the backup's events" [ "$before" = "$after" ]
    check "and to the live database's" [ "$after" = "$live" ]
    check "there are events to compare" [ "${after%% *}" -gt 0 ]
    psql_admin -c "DROP DATABASE $restored"
}

smoke_snapshot() {  # what must survive a restart, to compare afterwards
    http 200 GET "$API1/v1/loans/$LOAN" "${AUTH[@]}" |
        jq -S '{status, outstanding, schedule: [.schedule[] | {index, status}]}' >"$WORK/loan.$1.json"
    http 200 GET "$API2/v1/loans/$LOAN/flows?policy=fifo&max_hops=6" "${REG[@]}" |
        jq -S . >"$WORK/flows.$1.json"
    http 200 GET "$API2/v1/loans/$LOAN/reminders" "${AUTH[@]}" |
        jq -S '[.[] | {instalment, stage_name, tx_hash}]' >"$WORK/reminders.$1.json"
}

smoke_restart() {
    smoke_snapshot before
    stop receiver
    # A separate invocation, exactly as an operator would run it.
    STACK_DIR=$STATE "$HERE/local.sh" restart
    start receiver no "$PY" "$HERE/webhook_receiver.py" --port "$RECEIVER_PORT" \
        --secret-file "$WORK/hook.secret" --out "$WORK/received.jsonl"
}

smoke_after_restart() {
    smoke_ready
    "$LOANTRACE" verify "$WORK/loan.txt" --api "$API1" --receipt "$WORK/loan.txt.receipt.json"
    "$LOANTRACE" verify "$WORK/loan.txt" --api "$API2" --receipt "$WORK/loan.txt.receipt.json"
    smoke_snapshot after
    local part
    for part in loan flows reminders; do
        check "the $part read the same before and after the restart" \
            diff "$WORK/$part.before.json" "$WORK/$part.after.json"
    done
    # The code on chain still is the build (the sources were compared once, after deploy).
    "$LOANTRACE" integrity --rpc "$RPC" --address-book "$ADDRESS_BOOK" --no-source
    lt audit-log verify
}

smoke_down() {
    STACK_DIR=$STATE "$HERE/local.sh" down
    local name
    for name in "${PROCESSES[@]}"; do
        check "$name stopped" bash -c "! [ -f '$STATE/pids/$name.pid' ]"
    done
}

smoke_finish() {
    local status=$?
    trap - EXIT
    if ((status != 0)); then
        say ""
        say "SMOKE FAILED at step: $STEP"
        local name
        for name in "${PROCESSES[@]}" migrate deploy; do
            log_tail "$name" 15
        done
    fi
    if [[ ${STACK_KEEP:-} == 1 ]]; then
        say "STACK_KEEP=1: the stack stays in $STATE (deploy/local.sh down / purge)"
    else
        cmd_purge >/dev/null 2>&1 || true
    fi
    if ((status == 0)); then
        say ""
        say "SMOKE PASSED in ${SECONDS}s: ${PASSED[*]}"
    fi
    exit "$status"
}

cmd_smoke() {
    require_tools
    SECONDS=0
    cmd_purge >/dev/null  # a clean state
    trap smoke_finish EXIT
    STEP="up"
    cmd_up
    load_stack
    PASSED+=("up")
    WORK=$STATE/work
    step "api keys" smoke_keys
    step "role grant by the admin" smoke_roles
    step "readiness of both API processes" smoke_ready
    step "webhook and receiver" smoke_webhook
    step "borrower signs (EIP-712)" smoke_sign
    step "notarise" smoke_notarise
    step "verify (and a tampered copy)" smoke_verify
    step "register, disburse, repay" smoke_loan
    step "trace as the regulator" smoke_trace
    step "reminder raised on chain, delivered signed" smoke_reminder
    step "metrics" smoke_metrics
    step "backup, restore, re-index" smoke_backup
    step "restart everything" smoke_restart
    step "verify again after the restart" smoke_after_restart
    step "down" smoke_down
}

case $COMMAND in
    up) cmd_up ;;
    down) cmd_down ;;
    restart) cmd_restart ;;
    status) cmd_status ;;
    purge) cmd_purge ;;
    smoke) cmd_smoke ;;
    env) load_stack && cat "$ENV_FILE" ;;
    help | -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command $COMMAND (up, status, restart, down, purge, smoke, env)" ;;
esac
