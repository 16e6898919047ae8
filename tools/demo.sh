#!/usr/bin/env bash
# make demo: start the lab host (inventory/lab), prepare it as a hosting provider delivers a server
# plus the stand-ins for what cannot run here, converge it with site.yml twice over SSH (every layer:
# host, edge, stacks, edge failover, k8s, sealed_secrets, monitoring, drift_check, backup), fail when the
# second run changes anything, then show each layer working and print the recaps, the wall times per layer
# and where to look.
#   tools/demo.sh                recreate the lab container (and its stand-in state), then converge
#   DEMO_REUSE=1 tools/demo.sh   keep a running lab container (faster; converges an existing host)
#   FAST=1 tools/demo.sh         converge with the Mitogen strategy (`make demo FAST=1`; DEMO_FAST=1 too)
#   tools/demo.sh up             only create and prepare the lab (benchmarks/converge.py converges it)
#   tools/demo.sh destroy        remove the lab container and its stand-in state
#   tools/demo.sh ha [up|destroy]  the same for the multi-host lab (`make demo-ha`, inventory/lab-ha):
#                  two edges sharing a floating IP (keepalived) and a monitoring/cluster host; after
#                  converging it stops the first edge's Traefik and measures the failover.
# The containers are started by molecule/_shared/create.yml, the same spec as every Molecule instance
# (systemd, Docker-in-Docker flags); edges from the dind image: Docker must run there before site.yml
# so that the Traefik stand-in image can be built (the host layer then converges that engine, as it
# does on production's existing one). The single lab publishes sshd on 127.0.0.1:DEMO_SSH_PORT; the
# multi-host lab's hosts have fixed addresses on their network (10.231.72.0/24), reached directly.
# tools/lab/prepare.yml runs through `docker exec` (tools/lab/docker-connection.yml): the admin account
# with the lab key, then the stand-ins. site.yml logs in over SSH as that admin with pipelining and
# ControlPersist (inventory/lab/group_vars/managed_hosts/connection.yml), as on production. The lab's
# secrets are vault-encrypted fake values whose test-only password is inventory/lab/.vault-password.test-only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH=$root/.venv/bin:$PATH NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_VAULT_PASSWORD_FILE=$root/inventory/lab/.vault-password.test-only
ha=${DEMO_HA:-0}
if [ "${1:-}" = ha ]; then ha=1; shift; fi
ssh_port=${DEMO_SSH_PORT:-2222}
if [ "$ha" = 1 ]; then
  export MOLECULE_SCENARIO_NAME=lab-ha  # create.yml names the network molecule-lab-ha and labels with it
  inventory=inventory/lab-ha
  rel=.cache/demo-ha  # git-ignored: key pair, logs, state/
  labs=(sq-lab-edge-1 sq-lab-edge-2 sq-lab-mon-1)
  net=10.231.72
  platforms="
    - {name: sq-lab-edge-1, image: dind, ipv4_address: $net.11, capabilities: [SYS_PTRACE]}
    - {name: sq-lab-edge-2, image: dind, ipv4_address: $net.12, capabilities: [SYS_PTRACE]}
    - {name: sq-lab-mon-1, image: systemd, ipv4_address: $net.21}"
else
  export MOLECULE_SCENARIO_NAME=lab  # create.yml labels the container with it
  inventory=inventory/lab
  rel=.cache/demo  # git-ignored: key pair, logs, state/ (TLS secrets, controller keys, sealed manifests, key backup)
  labs=(sq-lab-1 sq-lab-backup)
  # capabilities: health checks (docker exec) of PostgreSQL/MariaDB, whose processes run as another user;
  # sq-lab-backup: the SFTP server of the off-host backup repository
  platforms="
    - {name: sq-lab-1, image: dind, published_ports: ['127.0.0.1:$ssh_port:22'], capabilities: [SYS_PTRACE]}
    - {name: sq-lab-backup, image: systemd}"
fi
lab=${labs[0]}
demo=$root/$rel
mkdir -p "$demo"

log() { printf '[demo] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.1f", end - start }'; }
die() { log "$*"; exit 1; }
in_lab() { docker exec "$lab" bash -c "$1"; }

cat >"$demo/lab-platform.yml" <<EOF
molecule_yml:
  platforms:$platforms
molecule_instance_config: $demo/instance_config.yml
EOF

lab_playbook() {  # create|destroy|prepare
  local args=(-i "localhost," -e "@$demo/lab-platform.yml" "molecule/_shared/$1.yml")
  [ "$1" = prepare ] && args=(-i "$inventory" -i tools/lab/docker-connection.yml tools/lab/prepare.yml)
  ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED=true ansible-playbook "${args[@]}" >"$demo/lab-$1.log" 2>&1 \
    || { tail -40 "$demo/lab-$1.log" >&2; die "lab $1 failed, see $rel/lab-$1.log"; }
}

recap() { sed -n '/^PLAY RECAP/,/^$/p' "$1" | grep -E ': ok=' || true; }
recap_sum() {  # field (changed, failed, unreachable) summed over hosts
  recap "$1" | grep -oE "$2=[0-9]+" | cut -d= -f2 | awk '{ s += $1 } END { print s + 0 }'
}
# Per play (= layer): tasks started, tasks that reported a change, seconds; the times come from
# ansible.posix.profile_tasks' line at every task start ("... (0:00:01.234)       0:00:10.123 ****",
# the second figure being the time since the run started).
layers() {
  awk '
    function secs(t,  p) { split(t, p, ":"); return p[1] * 3600 + p[2] * 60 + p[3] }
    /^PLAY RECAP/ { play = "" }
    /^PLAY \[/ && !/^PLAY RECAP/ { play = $0; sub(/^PLAY \[/, "", play); sub(/\] \**$/, "", play); order[++n] = play }
    /^(TASK|RUNNING HANDLER) \[/ { tasks[play]++; counted = 0 }
    /^changed: / && !counted { changed[play]++; counted = 1 }
    /\([0-9]+:[0-9]+:[0-9.]+\) +[0-9]+:[0-9]+:[0-9.]+ \** *$/ {
      t = secs($(NF - 1)); if (play != "" && !(play in start)) start[play] = t; end = t
    }
    END {
      for (i = 1; i <= n; i++) {
        p = order[i]
        if (!(p in start)) continue  # a play whose hosts matched nothing (e.g. no other edge host) ran no task
        stop = end
        for (j = i + 1; j <= n; j++) if (order[j] in start) { stop = start[order[j]]; break }
        printf "  %-42s %4d tasks %4d changed %7.1fs\n", p, tasks[p], changed[p], stop - start[p]
      }
    }' "$1"
}

strategy="SSH, pipelining, ControlPersist" strategy_env=()
if [ "${FAST:-${DEMO_FAST:-0}}" = 1 ]; then
  strategy="SSH, Mitogen strategy (mitogen_linear)"
  strategy_env=(ANSIBLE_STRATEGY=mitogen_linear "ANSIBLE_STRATEGY_PLUGINS=$(tools/mitogen.sh)")
fi
run_time=()
converge() {  # run number
  local logfile=$demo/site-run-$1.log start
  start=$(now)
  log "run $1: ansible-playbook site.yml -i $inventory over $strategy (log: $rel/site-run-$1.log)"
  if ! env "${strategy_env[@]}" ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.timer,ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=15 \
      ansible-playbook site.yml -i "$inventory" >"$logfile" 2>&1; then
    tail -60 "$logfile" >&2
    die "run $1 failed, see $rel/site-run-$1.log"
  fi
  [ -n "$(recap "$logfile")" ] || die "run $1 printed no recap, see $rel/site-run-$1.log"
  run_time[$1]=$(since "$start")
}

forget_state() { rm -rf "$demo/state"; }  # belongs to one lab container (its double, its controller)

if [ "${1:-}" = destroy ]; then
  lab_playbook destroy
  forget_state
  log "lab removed"
  exit 0
fi

total=$(now)
if [ ! -s "$demo/lab_ed25519" ]; then
  ssh-keygen -q -t ed25519 -N '' -C labadmin@squaremcp-lab -f "$demo/lab_ed25519"
fi

start=$(now)
running=$(docker inspect -f '{{.State.Running}}' "${labs[@]}" 2>/dev/null | sort -u || true)
if [ "${DEMO_REUSE:-0}" = 1 ] && [ "$running" = true ]; then
  log "reusing the running ${labs[*]}"
else
  lab_playbook destroy
  forget_state
  if [ "$ha" = 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$ssh_port") 2>/dev/null; then
    die "127.0.0.1:$ssh_port is taken: run with DEMO_SSH_PORT=<free port>"
  fi
  log "starting ${labs[*]} (edges from squaremcp/dind:current with the Docker-in-Docker flags)"
  lab_playbook create
fi
time_create=$(since "$start")
start=$(now)
log "preparing the lab through docker exec: admin account with the lab key, Traefik image, Kubernetes double, Sealed Secrets controller (log: $rel/lab-prepare.log)"
lab_playbook prepare
time_prepare=$(since "$start")
if [ "${1:-}" = up ]; then
  log "lab up (created in ${time_create}s, prepared in ${time_prepare}s): ansible-playbook site.yml -i $inventory"
  exit 0
fi

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

indent() { sed 's/^/    /'; }
if [ "$ha" = 1 ]; then
  # shellcheck source=tools/lab/demo-ha.sh
  . tools/lab/demo-ha.sh
  show_ha
  exit 0
fi

# Each layer, seen from outside Ansible. Every probe must answer, or the demo fails.
start=$(now)
ssh_check=$(ssh -i "$demo/lab_ed25519" -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR labadmin@127.0.0.1 \
  'sudo -n docker version --format "Docker {{.Server.Version}}"; docker compose version' 2>&1) \
  || die "SSH to the lab failed: $ssh_check"
root_login=$(ssh -i "$demo/lab_ed25519" -p "$ssh_port" -o BatchMode=yes -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR root@127.0.0.1 true 2>&1) \
  && die "root could log in over SSH"
edge=$(in_lab "docker compose -p traefik ps --format '{{.Name}}  {{.Image}}  {{.Status}}'") || die "docker compose ps failed"
grep -q '(healthy)' <<<"$edge" || die "the edge is not healthy: $edge"
routers=$(in_lab "python3 -c 'import yaml; print(\" \".join(sorted(yaml.safe_load(open(\"/opt/traefik/dynamic/routes.yml\"))[\"http\"][\"routers\"])))'") \
  || die "cannot read routes.yml"
in_lab 'systemctl start squaremcp-cert-rotation.service' || die "the certificate rotation failed: docker exec $lab journalctl -u squaremcp-cert-rotation"
rotation=$(in_lab 'cat /var/lib/squaremcp/cert-rotation/report.txt')
certificates=$(in_lab "python3 -c 'import yaml; print(\"\n\".join(c[\"certFile\"] for c in yaml.safe_load(open(\"/opt/traefik/dynamic/certificates.yml\"))[\"tls\"][\"certificates\"]))'") \
  || die "cannot read certificates.yml"
metrics=$(in_lab "grep -E '^squaremcp_certificate_(sync_failed|sync_certificates|expiry_timestamp_seconds)' /var/lib/prometheus/node-exporter/squaremcp_certificates.prom") \
  || die "no certificate metrics"
stacks=$(in_lab "docker ps -a --filter label=squaremcp.stack --format '{{.Label \"squaremcp.stack\"}}  {{.Names}}  {{.Status}}' | sort") \
  || die "cannot list the stacks' containers"
[ "$(grep -c '(healthy)' <<<"$stacks")" = "$(wc -l <<<"$stacks")" ] || die "a stack container is not healthy: $stacks"
in_lab 'systemctl start squaremcp-stacks-watchdog.service' \
  || die "the stacks watchdog failed: docker exec $lab journalctl -u squaremcp-stacks-watchdog"
stack_metrics=$(in_lab "grep -E '^squaremcp_stack_(service_healthy|watchdog_last_success)' /var/lib/prometheus/node-exporter/squaremcp_stacks.prom") \
  || die "no stacks metrics"
api=http://127.0.0.1:16443
ingresses=$(in_lab "curl -sf $api/apis/networking.k8s.io/v1/ingresses | jq -r '.items[] | \"\(.metadata.namespace)/\(.metadata.name)  class=\(.spec.ingressClassName // \"none\")  annotation=\(.metadata.annotations[\"kubernetes.io/ingress.class\"] // \"none\")\"'") \
  || die "cannot list the Ingresses in the double"
host_ports=$(in_lab "curl -sf $api/apis/apps/v1/namespaces/ingress/daemonsets | jq -r '.items[] | \"\(.metadata.name)  \(.spec.template.spec.containers[0].ports | map(\"\(.name)=\(.hostPort)\") | join(\" \"))\"'") \
  || die "cannot read the ingress DaemonSet"
sealed=$(in_lab "curl -sf $api/apis/bitnami.com/v1alpha1/sealedsecrets | jq -r '.items[] | \"\(.metadata.namespace)/\(.metadata.name)  keys: \(.spec.encryptedData | keys | join(\", \"))\"'") \
  || die "cannot list the SealedSecrets in the double"
[ -n "$sealed" ] || die "no SealedSecret in the double"
targets=$(in_lab "curl -sf http://127.0.0.1:9090/api/v1/targets | jq -r '.data.activeTargets | group_by(.labels.job)[] | \"\\(.[0].labels.job): \\(map(.health) | group_by(.) | map(\"\\(length) \\(.[0])\") | join(\", \"))\"'") \
  || die "Prometheus does not answer in the lab: docker exec $lab journalctl -u prometheus"
rules=$(in_lab "curl -sf http://127.0.0.1:9090/api/v1/rules | jq '[.data.groups[].rules[]] | length'") || die "cannot read the alert rules"
firing=$(in_lab "curl -sf http://127.0.0.1:9093/api/v2/alerts | jq -r 'map(\"\\(.labels.alertname) (\\(.labels.severity)) \\(.labels.instance // \"\") -> \\(.receivers | map(.name) | join(\",\"))\") | sort | unique | .[]'") \
  || die "Alertmanager does not answer in the lab: docker exec $lab journalctl -u prometheus-alertmanager"
in_lab 'systemctl start squaremcp-backup.service' \
  || die "the backup failed: docker exec $lab journalctl -u squaremcp-backup"
backup=$(in_lab "journalctl -u squaremcp-backup.service -o cat --no-pager -n 40 | grep -E '^(squaremcp-backup backup|  repository )' | tail -n 3")
time_show=$(since "$start")

cat <<EOF

== make demo: $lab converged with site.yml (every layer), second run changed nothing ==
converged over $strategy
run 1  $(recap "$demo/site-run-1.log")   ${run_time[1]}s
$(layers "$demo/site-run-1.log")
run 2  $(recap "$demo/site-run-2.log")   ${run_time[2]}s
$(layers "$demo/site-run-2.log")
lab container ${time_create}s, stand-ins ${time_prepare}s, probes ${time_show}s, total $(since "$total")s

host    SSH with the admin key, through the lab's nftables filter and hardened sshd:
$(indent <<<"$ssh_check")
        root over SSH: refused ($(head -1 <<<"$root_login"))
edge    docker compose -p traefik ps (image: the stand-in; Traefik itself cannot run here):
$(indent <<<"$edge")
        routers in /opt/traefik/dynamic/routes.yml: $routers
certs   squaremcp-cert-rotation.service (what the timer runs) against the Kubernetes double:
$(indent <<<"$rotation")
        certificates.yml:
$(indent <<<"$certificates")
        textfile metrics (/var/lib/prometheus/node-exporter/squaremcp_certificates.prom):
$(indent <<<"$metrics")
stacks  Compose stacks (real PostgreSQL, MariaDB, Redis; stand-ins for the application images), all healthy:
$(indent <<<"$stacks")
        squaremcp-stacks-watchdog.service (what its timer runs), metrics in squaremcp_stacks.prom:
$(indent <<<"$stack_metrics")
k8s     Ingresses in the double after ingress_class (class field, deprecated annotation):
$(indent <<<"$ingresses")
        ingress addon host ports (behind the Docker edge): $host_ports
monitor Prometheus targets (package method: Debian's Prometheus, Alertmanager, exporters), $rules alert rules loaded:
$(indent <<<"$targets")
        alerts in Alertmanager -> receiver (the lab's route host names resolve nowhere, so their probes fail;
        Watchdog always fires; deliveries to 127.0.0.1:9999 fail unless something listens there):
$(indent <<<"${firing:-none yet (alerts wait for their for: duration, e.g. EndpointProbeFailed 2m)}")
sealed  SealedSecrets in the double (values sealed with the controller stand-in's certificate):
$(indent <<<"$sealed")
        key backup (vault-encrypted): $rel/state/backup/   manifests for git: $rel/state/sealed/
backup  squaremcp-backup.service (what the daily timer runs) to the local and the SFTP repository (sq-lab-backup):
$(indent <<<"$backup")

Where to look
  shell         docker exec -it $lab bash
  ssh           ssh -i $rel/lab_ed25519 -p $ssh_port labadmin@127.0.0.1
  host          docker exec $lab sshd -T | grep -E 'permitrootlogin|passwordauthentication'
                docker exec $lab nft list table inet squaremcp_filter
  edge          docker exec $lab docker compose -p traefik ps
                docker exec $lab cat /opt/traefik/traefik.yml /opt/traefik/dynamic/routes.yml
  certs         docker exec $lab systemctl list-timers squaremcp-cert-rotation.timer
                docker exec $lab cat /opt/traefik/dynamic/certificates.yml /var/lib/prometheus/node-exporter/squaremcp_certificates.prom
  stacks        docker exec $lab docker compose ls; docker exec $lab cat /opt/stacks/fetcherpay/compose.yml
                docker exec $lab journalctl -u squaremcp-stacks-watchdog   (maintenance: touch /var/lib/squaremcp/stacks/maintenance/<stack>)
  k8s           docker exec $lab curl -s $api/apis/networking.k8s.io/v1/ingresses   (the double; journalctl -u kube-double)
  sealed        docker exec $lab curl -s $api/apis/bitnami.com/v1alpha1/sealedsecrets
  monitoring    docker exec $lab curl -s http://127.0.0.1:9090/api/v1/alerts   (Prometheus; :9093 Alertmanager, :9115 blackbox)
                docker exec $lab ls /opt/monitoring/prometheus/rules /opt/monitoring/prometheus/file_sd
  backup        docker exec $lab journalctl -u squaremcp-backup; ansible-playbook -i inventory/lab playbooks/runbooks/restore.yml --check
  logs          $rel/lab-prepare.log $rel/site-run-1.log $rel/site-run-2.log (task times: profile_tasks)
  again         make demo (recreates the lab; DEMO_REUSE=1 keeps it)   remove: tools/demo.sh destroy
EOF
