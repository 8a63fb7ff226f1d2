#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, without systemd or cgroups, for trying
# `python -m study sweep --executor slurm` on a laptop and for the tests in CI.
#
#   sudo scripts/slurm_local.sh up      start it (again: a no-op), print the SLURM_CONF line
#   sudo scripts/slurm_local.sh down    stop it (a stopped cluster: a no-op)
#   scripts/slurm_local.sh status       say what runs
#
# Pieces: munged (as the munge user), MariaDB bound to 127.0.0.1 with its own data folder,
# slurmdbd (real accounting: sacct, and the job states submitit reads), slurmctld and one
# slurmd whose node is this machine (its CPUs and memory from `slurmd -C`, NodeAddr
# 127.0.0.1). Everything else lives in $LGM_SLURM_DIR (default /tmp/lgm-slurm): config,
# state, logs, pid files. Debian's packages are installed first when missing (needs root
# and apt-get). The settings below are the ones found necessary in a container (issue 20):
# linuxproc/none plugins (no cgroups), no scheduler delay (else every job waits seconds),
# KillWait=5 (a cancelled job ends in seconds).
set -euo pipefail

DIR=${LGM_SLURM_DIR:-/tmp/lgm-slurm}
CLUSTER=lgm
DB_PORT=${LGM_SLURM_DB_PORT:-13306}
DBD_PORT=${LGM_SLURM_DBD_PORT:-6819}
CTLD_PORT=${LGM_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${LGM_SLURM_SLURMD_PORT:-6818}
CONF=$DIR/etc/slurm.conf
DBD_CONF=$DIR/etc/slurmdbd.conf
DB_SOCKET=$DIR/mysql/mysqld.sock
DB_PASS=lgm-slurm-local  # the accounting DB listens on 127.0.0.1 only
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)
export SLURM_CONF=$CONF

say() { echo "slurm_local: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Wait until "$@" succeeds, at most $1 seconds (shift).
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "$what did not come up in ${seconds} s (logs in $DIR/log)"
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install Slurm 22.05+, munge and MariaDB"
    [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root to install them"
    say "installing ${missing[*]}"
    # Package scripts must not start the system's own services in a container.
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends "${missing[@]}"
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged answers already (the system's or ours)
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    wait_for 10 munged sh -c 'munge -n </dev/null | unmunge'
    cp /run/munge/munged.pid "$DIR/run/munged.pid"  # ours: down stops it
}

start_mariadb() {
    local pid=$DIR/run/mariadb.pid
    if ! alive "$pid"; then
        if [[ ! -d $DIR/mysql/mysql ]]; then
            mariadb-install-db --no-defaults --datadir="$DIR/mysql" --user=root \
                --auth-root-authentication-method=socket --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1
        fi
        # In the background, in its own session (no mysqld_safe): its pid file says it is ours.
        setsid mariadbd --no-defaults --datadir="$DIR/mysql" --socket="$DB_SOCKET" --port="$DB_PORT" \
            --bind-address=127.0.0.1 --pid-file="$pid" --user=root --skip-log-bin \
            --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 \
            --log-error="$DIR/log/mariadb.log" </dev/null >/dev/null 2>&1 &
        wait_for 60 MariaDB mariadb --no-defaults --socket="$DB_SOCKET" -uroot -e 'select 1'
    fi
    mariadb --no-defaults --socket="$DB_SOCKET" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

write_config() {
    local node cpu_line
    node=$(hostname -s)
    # `slurmd -C`: this machine's CPUs, sockets, cores, threads and memory as Slurm sees them.
    cpu_line=$(slurmd -C | head -n1 | sed -e "s/^NodeName=[^ ]*/NodeName=$node/")
    cat >"$CONF" <<EOF
# Written by scripts/slurm_local.sh: a one-node cluster on this machine.
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/slurmd
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
KillWait=5
MinJobAge=300
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
$cpu_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$DBD_CONF" <<EOF
# Written by scripts/slurm_local.sh: accounting in the MariaDB of $DIR/mysql.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/run/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 0600 "$DBD_CONF"  # slurmdbd refuses a config others can read (it holds the password)
}

start_slurm() {
    local node
    node=$(hostname -s)
    if ! alive "$DIR/run/slurmdbd.pid"; then
        slurmdbd  # reads slurmdbd.conf beside $SLURM_CONF
        wait_for 30 slurmdbd sacctmgr -n list cluster
    fi
    # The cluster must exist in the accounting DB before slurmctld registers with it.
    if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=cluster) ]]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    if ! alive "$DIR/run/slurmctld.pid"; then
        slurmctld -f "$CONF"
        wait_for 30 slurmctld scontrol ping
    fi
    if ! alive "$DIR/run/slurmd.pid"; then
        slurmd -f "$CONF" -N "$node"
    fi
    # Idle (not "unknown" or "down"): the node takes jobs.
    wait_for 30 "the node $node" sh -c "sinfo -h -n '$node' -o %t | grep -qx 'idle\|mix\|alloc'"
}

up() {
    install_packages
    mkdir -p "$DIR"/{etc,state/ctld,state/slurmd,run,log,mysql}
    start_munge
    start_mariadb
    write_config
    start_slurm
    say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %t')"
    echo "export SLURM_CONF=$CONF"
}

# Stop the daemon whose pid file is $1 (only that process), waiting for it to go.
stop() {
    local pidfile=$1 pid
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
        sleep 0.25
    done
    say "pid $pid ($pidfile) ignored SIGTERM for 30 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

down() {
    if [[ -d $DIR/run ]]; then
        if alive "$DIR/run/slurmctld.pid"; then
            scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
        fi
        stop "$DIR/run/slurmd.pid"
        stop "$DIR/run/slurmctld.pid"
        stop "$DIR/run/slurmdbd.pid"
        stop "$DIR/run/mariadb.pid"
        stop "$DIR/run/munged.pid"
    fi
    say "down"
}

status() {
    local name
    for name in munged mariadb slurmdbd slurmctld slurmd; do
        if alive "$DIR/run/$name.pid"; then echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"
        else echo "$name: stopped"; fi
    done
    [[ -f $CONF ]] && echo "export SLURM_CONF=$CONF"
}

case ${1:-} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status   (state in \$LGM_SLURM_DIR, default /tmp/lgm-slurm)" >&2; exit 2 ;;
esac
