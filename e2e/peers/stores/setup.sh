#!/usr/bin/env bash
# Installs the distributed stores the discovery and cluster tests run:
# etcd (Debian's etcd-server and etcd-client) and ZooKeeper (Debian's
# zookeeper). Installing them starts nothing; the tests start and stop their
# own servers on 127.0.0.1 in temporary directories (e2e/src/stores.rs).
set -euo pipefail
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
[[ -f /usr/share/java/zookeeper.jar ]] || need+=(zookeeper)
if ((${#need[@]})); then
    echo "stores/setup.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
# Debian's packages may enable services; nothing here may keep running.
for svc in etcd zookeeper; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done
echo "stores/setup.sh: $(etcd --version | head -1); ZooKeeper $(ls /usr/share/java/zookeeper-3*.jar | grep -o '3[0-9.]*[0-9]' | head -1)"
