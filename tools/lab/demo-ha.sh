# shellcheck shell=bash disable=SC2154  # net, labs, demo, rel, run_time, ... are tools/demo.sh's
# Sourced by tools/demo.sh in its multi-host mode (`make demo-ha`) once site.yml has converged twice:
# shows the multi-host lab from outside Ansible (the floating IP, a measured failover, the same
# certificates on both edges) and prints where to look. Uses tools/demo.sh's variables and helpers.
show_ha() {
  local edge1=sq-lab-edge-1 edge2=sq-lab-edge-2 mon=sq-lab-mon-1 vip=$net.100 start holders edges certs failover
  start=$(now)
  edges=$(for host in "$edge1" "$edge2"; do
    printf '%s  %s  keepalived %s  %s\n' "$host" \
      "$(docker exec "$host" docker inspect -f '{{.Name}} {{.State.Health.Status}}' traefik)" \
      "$(docker exec "$host" systemctl is-active keepalived)" \
      "$(docker exec "$host" grep -h '^squaremcp_edge_failover_master' /var/lib/prometheus/node-exporter/squaremcp_edge_failover.prom)"
  done) || die "cannot read the edges' state"
  local tries=0
  while :; do  # keepalived settles within a few adverts of the last (re)start
    holders=$(for host in "$edge1" "$edge2"; do
      if docker exec "$host" ip -o -4 addr show to "$vip/32" | grep -q .; then echo "$host"; fi
    done)
    [ "$holders" = "$edge1" ] && break
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || die "the floating IP $vip should be on $edge1 alone, it is on: ${holders:-nobody}"
    sleep 1
  done
  # The same certificates on both edges: each runs the sync of its timer against the one cluster.
  certs=$(for host in "$edge1" "$edge2"; do
    docker exec "$host" systemctl start squaremcp-cert-rotation.service \
      || die "the certificate rotation failed on $host: docker exec $host journalctl -u squaremcp-cert-rotation"
    printf '%s  %s\n' "$host" "$(docker exec "$host" sh -c 'cd /opt/traefik && sha256sum dynamic/certificates.yml certs/* | sha256sum | cut -c1-16')"
  done)
  [ "$(awk '{ print $2 }' <<<"$certs" | sort -u | wc -l)" = 1 ] || die "the edges serve different certificates: $certs"
  log "stopping $edge1's Traefik and measuring the failover (tools/lab/failover.py)"
  failover=$(python3 tools/lab/failover.py --probe "$mon" --vip "$vip" --edges "$edge1" "$edge2") \
    || die "the failover did not happen: $failover"
  local time_show
  time_show=$(since "$start")

  cat <<EOF

== make demo-ha: ${labs[*]} converged with site.yml, second run changed nothing ==
converged over $strategy
run 1
$(recap "$demo/site-run-1.log" | indent)
  ${run_time[1]}s
$(layers "$demo/site-run-1.log")
run 2
$(recap "$demo/site-run-2.log" | indent)
  ${run_time[2]}s
$(layers "$demo/site-run-2.log")
lab containers ${time_create}s, preparation ${time_prepare}s, probes ${time_show}s, total $(since "$total")s

edges   Traefik (stand-in), keepalived, and the textfile metric of its state:
$(indent <<<"$edges")
        floating IP $vip on: $holders (the first edge of the group has the highest priority)
certs   both edges synced from the one cluster (cert rotation service): hash of certificates.yml + certs/
$(indent <<<"$certs")
failover  $edge1's Traefik stopped, $mon asking http://$vip/ every 0.1 s (answers through the MAC it resolves):
        $failover
        (failover_seconds: until the floating IP answered through $edge2; failback_seconds: after Traefik
        was started again, until it answered through $edge1 again)

Where to look
  ssh           ssh -i $rel/lab_ed25519 labadmin@$net.11   (edges .11 .12, monitoring/cluster .21)
  keepalived    docker exec $edge1 journalctl -u keepalived   docker exec $edge1 cat /etc/keepalived/keepalived.conf
  floating IP   docker exec $edge1 ip -4 addr show eth0   docker exec $mon curl -s http://$vip/
  failover      python3 tools/lab/failover.py --probe $mon --vip $vip --edges $edge1 $edge2 [--stop-instance]
  firewall      docker exec $edge1 nft list table inet squaremcp_filter   (VRRP from the lab network)
  edge probes   docker exec $mon curl -s 'http://127.0.0.1:9090/api/v1/query?query=probe_success{module="edge_tls"}'
  edge alerts   docker exec $mon curl -s 'http://127.0.0.1:9093/api/v2/alerts?filter=alertname=~"Edge.*"'
  logs          $rel/lab-prepare.log $rel/site-run-1.log $rel/site-run-2.log
  again         make demo-ha (recreates the lab; DEMO_REUSE=1 keeps it)   remove: tools/demo.sh ha destroy
EOF
}
