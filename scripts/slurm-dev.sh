#!/usr/bin/env bash
# A single-node Slurm cluster for development and tests: `up` installs Debian's slurmctld, slurmd, slurm-client and munge
# when missing, writes a munge key and a minimal slurm.conf with this host as both controller and compute node, and starts
# the three daemons in the foreground under setsid with their pids recorded (no systemd needed); `down` cancels the
# cluster's jobs and stops only the recorded pids. Both are idempotent. `up` prints `export SLURM_CONF=…` for `eval`.
#
#   eval "$(scripts/slurm-dev.sh up)"    # then sbatch, squeue, scancel talk to it
#   scripts/slurm-dev.sh status          # exit 0 when all three daemons answer
#   scripts/slurm-dev.sh down          # --if-owner tests: only if the tests brought it up
#
# Everything lives under $STREAMFIT_SLURM_DIR (default /var/lib/streamfit-slurm-dev): config, key, state, spool, logs, pids.
# The node declares two fake GPUs (gres, dummy device files) so --gres=gpu:N can be scheduled and tested.
set -euo pipefail

root=${STREAMFIT_SLURM_DIR:-/var/lib/streamfit-slurm-dev}
conf=$root/slurm.conf
node=$(hostname -s)
daemons=(munged slurmctld slurmd)

say() { printf 'slurm-dev: %s\n' "$*" >&2; }
fail() {
  say "$*"
  exit 1
}

pid_of() { cat "$root/run/$1.pid" 2>/dev/null || true; }
alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

install_packages() {
  local missing=()
  command -v munged >/dev/null || missing+=(munge)
  command -v slurmctld >/dev/null || missing+=(slurmctld)
  command -v slurmd >/dev/null || missing+=(slurmd)
  command -v sbatch >/dev/null || missing+=(slurm-client)
  ((${#missing[@]} == 0)) && return
  [[ $(id -u) == 0 ]] || fail "missing ${missing[*]}; run as root (it installs them with apt-get) or install them yourself"
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get here: this script brings a cluster up on Debian or Ubuntu"
  say "installing ${missing[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$root/log/apt.log" 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$root/log/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$root/log/apt.log" 2>&1; } ||
    fail "apt-get install ${missing[*]} failed; see $root/log/apt.log"
}

write_config() {
  # More CPUs than the machine has (config_overrides): a sweep controller and a few tiny trials share two cores in tests.
  local cpus
  cpus=$(($(nproc) > 8 ? $(nproc) : 8))
  mkdir -p "$root/dev"
  # Dummy device files: gres wants character devices, and /dev/null is one.
  ln -sfn /dev/null "$root/dev/nvidia0"
  ln -sfn /dev/null "$root/dev/nvidia1"
  cat >"$root/gres.conf" <<EOF
NodeName=$node Name=gpu File=$root/dev/nvidia[0-1]
EOF
  # SlurmdTimeout: a dead node is noticed in ~25 s instead of ~5 min. cred_expire: a requeued job waits this long before it
  # may start again (default 120 s). KillWait: SIGTERM to SIGKILL on cancel, time enough for a trial to write a checkpoint.
  cat >"$conf" <<EOF
# Written by scripts/slurm-dev.sh: a single-node development cluster.
ClusterName=streamfit-dev
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$root/run/munge.socket,cred_expire=5
StateSaveLocation=$root/state
SlurmdSpoolDir=$root/spool
SlurmctldPidFile=$root/run/slurmctld.daemon.pid
SlurmdPidFile=$root/run/slurmd.daemon.pid
SlurmctldLogFile=$root/log/slurmctld.log
SlurmdLogFile=$root/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
SlurmdTimeout=10
SlurmctldTimeout=10
KillWait=10
InactiveLimit=0
MinJobAge=600
GresTypes=gpu
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
}

start() { # name, command...: starts a daemon in its own session, in the foreground, and records its pid
  local name=$1
  shift
  alive "$name" && return
  setsid "$@" </dev/null >>"$root/log/$name.out" 2>&1 &
  echo $! >"$root/run/$name.pid"
}

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    "$@" >/dev/null 2>&1 && return
    sleep 0.1
  done
  fail "$what did not come up in ${seconds} s; see $root/log"
}

node_ready() { sinfo -h -N -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }

up() {
  [[ $(id -u) == 0 ]] || fail "run it as root: it installs Debian's packages and starts slurmd, which runs jobs as their users"
  mkdir -p "$root"/{run,log,state,spool}
  # Who brought the cluster up: `down --if-owner tests` (make test's safety net) leaves a developer's cluster alone.
  alive munged || alive slurmctld || alive slurmd || echo "${STREAMFIT_SLURM_OWNER:-user}" >"$root/run/owner"
  install_packages
  [[ -s $root/munge.key ]] || { dd if=/dev/urandom of="$root/munge.key" bs=1024 count=1 status=none && chmod 400 "$root/munge.key"; }
  write_config
  export SLURM_CONF=$conf
  start munged munged --foreground --force --socket="$root/run/munge.socket" --key-file="$root/munge.key" \
    --pid-file="$root/run/munged.daemon.pid" --log-file="$root/log/munged.log" --seed-file="$root/run/munged.seed"
  wait_for 10 munged test -S "$root/run/munge.socket"
  start slurmctld slurmctld -D -f "$conf"
  wait_for 20 slurmctld scontrol ping
  start slurmd slurmd -D -f "$conf" -N "$node"
  wait_for 30 "the node $node" node_ready
  printf 'export SLURM_CONF=%s\n' "$conf"
}

down() {
  if [[ ${1:-} == --if-owner ]]; then
    [[ $(cat "$root/run/owner" 2>/dev/null) == "${2:-}" ]] || return 0
    # A test run of another checkout holding the tests' lock is using the cluster; a dead holder's lock is stale.
    local holder
    holder=$(cat "$root.tests-lock/pid" 2>/dev/null || true)
    [[ -n $holder ]] && kill -0 "$holder" 2>/dev/null && return 0
    rm -rf "$root.tests-lock"
  fi
  if alive slurmctld; then
    export SLURM_CONF=$conf
    local jobs
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
    [[ -n $jobs ]] && scancel --quiet $jobs 2>/dev/null
    # Jobs end through slurmd (their slurmstepd sends SIGTERM, then SIGKILL after KillWait); wait for them before it goes.
    for ((i = 0; i < 150; i++)); do
      [[ -z $(squeue -h -t R,CG,S -o %A 2>/dev/null) ]] && break
      sleep 0.1
    done
  fi
  for name in slurmd slurmctld munged; do
    alive "$name" || { rm -f "$root/run/$name.pid"; continue; }
    local pid
    pid=$(pid_of "$name")
    kill -TERM "$pid"
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$root/run/$name.pid"
  done
  # The next `up` starts with no jobs: an earlier session's queue would run again.
  rm -rf "$root/state" "$root/spool" "$root/run/owner"
}

status() {
  for name in "${daemons[@]}"; do alive "$name" || return 1; done
  SLURM_CONF=$conf scontrol ping >/dev/null 2>&1
}

case ${1:-} in
up) up ;;
down) down "${@:2}" ;;
status) status ;;
*) fail "usage: $0 up|down|status" ;;
esac
