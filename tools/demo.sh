#!/usr/bin/env bash
# make demo: start the lab host (inventory/lab), converge it with site.yml twice, fail when the
# second run changes anything, then print the recaps, the wall times and where to look.
#   tools/demo.sh            recreate the lab container from the image, then converge
#   DEMO_REUSE=1 tools/demo.sh   keep a running lab container (faster; converges an existing host)
#   tools/demo.sh destroy    remove the lab container
# The container is started by molecule/_shared/create.yml, the same spec as every Molecule
# instance (systemd image + Docker-in-Docker flags), with sshd published on 127.0.0.1:DEMO_SSH_PORT.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$root/.venv/bin:$PATH NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export MOLECULE_SCENARIO_NAME=lab  # create.yml labels the container with it
lab=sq-lab-1
ssh_port=${DEMO_SSH_PORT:-2222}
rel=.cache/demo  # git-ignored: key pair, logs
demo=$root/$rel
mkdir -p "$demo"

log() { printf '[demo] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'; }
die() { log "$*"; exit 1; }

cat >"$demo/lab-platform.yml" <<EOF
molecule_yml:
  platforms:
    - name: $lab
      image: systemd
      docker_in_docker: true
      published_ports: ["127.0.0.1:$ssh_port:22"]
molecule_instance_config: $demo/instance_config.yml
EOF

lab_playbook() {  # create|destroy|prepare
  local inventory=(-i "localhost," -e "@$demo/lab-platform.yml")
  [ "$1" = prepare ] && inventory=(-i inventory/lab)
  ansible-playbook "${inventory[@]}" "molecule/_shared/$1.yml" >"$demo/lab-$1.log" 2>&1 \
    || { tail -40 "$demo/lab-$1.log" >&2; die "lab $1 failed, see $rel/lab-$1.log"; }
}

recap() { sed -n '/^PLAY RECAP/,/^$/p' "$1" | grep -E ': ok=' || true; }
recap_sum() {  # field (changed, failed, unreachable) summed over hosts
  recap "$1" | grep -oE "$2=[0-9]+" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }'
}

run_time=()
converge() {  # run number
  local logfile=$demo/site-run-$1.log start
  start=$(now)
  log "run $1: ansible-playbook site.yml -i inventory/lab (log: $rel/site-run-$1.log)"
  if ! ansible-playbook site.yml -i inventory/lab >"$logfile" 2>&1; then
    tail -60 "$logfile" >&2
    die "run $1 failed, see $rel/site-run-$1.log"
  fi
  [ -n "$(recap "$logfile")" ] || die "run $1 printed no recap, see $rel/site-run-$1.log"
  run_time[$1]=$(since "$start")
}

if [ "${1:-}" = destroy ]; then
  lab_playbook destroy
  log "lab removed"
  exit 0
fi

total=$(now)
if [ ! -s "$demo/lab_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N '' -C labadmin@squaremcp-lab -f "$demo/lab_ed25519"
fi

start=$(now)
if [ "${DEMO_REUSE:-0}" = 1 ] && [ "$(docker inspect -f '{{.State.Running}}' "$lab" 2>/dev/null)" = true ]; then
  log "reusing the running $lab"
else
  lab_playbook destroy
  if (exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null; then
    die "127.0.0.1:$ssh_port is taken: run with DEMO_SSH_PORT=<free port>"
  fi
  log "starting $lab from squaremcp/systemd:current (Docker-in-Docker flags)"
  lab_playbook create
fi
lab_playbook prepare  # waits for systemd in the container to finish booting
time_lab=$(since "$start")

converge 1
converge 2
for field in failed unreachable; do
  [ "$(recap_sum "$demo/site-run-2.log" "$field")" = 0 ] || die "run 2 reports $field hosts"
done
changes=$(recap_sum "$demo/site-run-2.log" changed)
if [ "$changes" != 0 ]; then
  log "run 2 changed $changes task(s), the playbooks are not idempotent:"
  awk '/^TASK \[/ { task = $0 } /^changed:/ { print "  " task }' "$demo/site-run-2.log" | sort -u >&2
  exit 1
fi

ssh_check=$(ssh -i "$demo/lab_ed25519" -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR labadmin@127.0.0.1 \
  'sudo -n docker version --format "Docker {{.Server.Version}}"; docker compose version' 2>&1) \
  || die "SSH to the lab failed: $ssh_check"

cat <<EOF

== make demo: $lab converged with site.yml, second run changed nothing ==
run 1  $(recap "$demo/site-run-1.log")   ${run_time[1]}s
run 2  $(recap "$demo/site-run-2.log")   ${run_time[2]}s
lab container ready in ${time_lab}s, total $(since "$total")s

SSH (key only, through the lab's nftables filter and hardened sshd) answered:
  ${ssh_check//$'\n'/$'\n  '}

Where to look
  shell         docker exec -it $lab bash
  ssh           ssh -i $rel/lab_ed25519 -p $ssh_port labadmin@127.0.0.1
  services      docker exec $lab systemctl status ssh nftables docker
  firewall      docker exec $lab nft list table inet squaremcp_filter
  docker        docker exec $lab docker network ls
  metrics       docker exec $lab curl -s 127.0.0.1:9323/metrics
  logs          $rel/site-run-1.log $rel/site-run-2.log
  again         make demo (recreates the lab; DEMO_REUSE=1 keeps it)   remove: tools/demo.sh destroy
EOF
