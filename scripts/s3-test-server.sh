#!/usr/bin/env bash
# Starts or stops a throwaway single-node Ceph cluster with a RADOS Gateway (an S3-compatible
# server) on 127.0.0.1, for the S3 object store tests.
#
#   scripts/s3-test-server.sh start [DIR]   start the daemons, create a user and a bucket, then
#                                           print the connection as KEY=VALUE lines on stdout
#   scripts/s3-test-server.sh stop DIR      kill the daemons started in DIR and remove DIR
#
# Needs Debian's ceph-mon, ceph-osd, radosgw and ceph-common (scripts/test.sh installs them) and
# curl; it installs nothing itself. The cluster has one monitor, one OSD on the in-memory
# `memstore` backend and no authentication between daemons, so it keeps no data after `stop`.
# The daemons run as the current user; everything they write stays under DIR.
set -euo pipefail

ACCESS_KEY_ID=inlettestaccesskey
SECRET_ACCESS_KEY=inlettestsecretaccesskey0123456789
BUCKET=inlet-test
REGION=us-east-1
# RGW waits this long for its first reply from the cluster before it gives up.
START_TIMEOUT_SECONDS=90

log() { printf '%s\n' "$*" >&2; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port)+"\n");s.close();});'
}

wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "Timed out after ${seconds} s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

stop_cluster() {
  local dir=$1
  [ -d "$dir" ] || return 0
  # Stop the gateway first so it does not log a failed cluster connection at exit.
  for name in client.rgw osd mon; do
    for pidfile in "$dir"/run/"$name".*.pid; do
      [ -f "$pidfile" ] || continue
      local pid
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    done
  done
  rm -rf "$dir"
}

s3_request() {
  local method=$1 url=$2
  shift 2
  # RGW rejects a SigV4 request that lacks x-amz-content-sha256; curl 7.88 only sends it when given.
  curl -sS --fail-with-body --aws-sigv4 "aws:amz:${REGION}:s3" --user "${ACCESS_KEY_ID}:${SECRET_ACCESS_KEY}" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$method" "$@" "$url"
}

start_cluster() {
  local dir=$1
  mkdir -p "$dir"/{run,log,mon/ceph-a,osd/ceph-0,rgw}
  local conf=$dir/ceph.conf
  local fsid mon_port rgw_port
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)

  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$mon_port
public_addr = 127.0.0.1
ms_bind_msgr2 = false
ms_mon_client_mode = crc
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $dir/run
pid_file = $dir/run/\$name.pid
admin_socket = $dir/run/\$name.asok
log_file = $dir/log/\$name.log
keyring = $dir/keyring
mon_data = $dir/mon/\$cluster-\$id
# The monitor refuses to start (ENOSPC) when its file system has less than mon_data_avail_crit
# percent free, 5 by default. Its store stays a few MiB here, so a nearly full disk must not stop it.
mon_data_avail_crit = 0
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_autoscale_mode = off
# An OSD that sends these updates at start-up can race its first monitor map and stop with
# "wrong fsid"; the script adds the OSD to the CRUSH map itself instead.
osd_crush_update_on_start = false
osd_class_update_on_start = false

[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_data = $dir/rgw
# The tests upload parts of a few KiB; S3 and Ceph's default minimum is 5 MiB.
rgw_multipart_min_part_size = 1
rgw_enable_usage_log = false
rgw_dns_name = 127.0.0.1
EOF

  log "Starting a Ceph monitor on 127.0.0.1:$mon_port"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring"
  ceph-mon -c "$conf" -i a
  wait_for "the monitor" 30 ceph -c "$conf" --connect-timeout 2 mon stat

  log "Starting one OSD on memstore"
  local osd_uuid osd_id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph -c "$conf" osd new "$osd_uuid")
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/osd-mkfs.log"
  ceph -c "$conf" osd crush add "osd.$osd_id" 1.0 root=default 2>/dev/null
  ceph-osd -c "$conf" -i "$osd_id"
  wait_for "the OSD to come up" 30 bash -c "ceph -c '$conf' osd stat | grep -q '1 up'"

  log "Starting the RADOS Gateway on 127.0.0.1:$rgw_port"
  radosgw -c "$conf" -n client.rgw.test
  wait_for "the gateway to answer" "$START_TIMEOUT_SECONDS" curl -sf "http://127.0.0.1:$rgw_port/"

  radosgw-admin -c "$conf" user create --uid inlet-test --display-name "Inlet tests" \
    --access-key "$ACCESS_KEY_ID" --secret-key "$SECRET_ACCESS_KEY" >/dev/null
  s3_request PUT "http://127.0.0.1:$rgw_port/$BUCKET" >/dev/null

  # The CORS rule that docs/OPERATIONS.md tells operators to set, so browsers can PUT and read ETags.
  local cors
  cors='<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>'
  s3_request PUT "http://127.0.0.1:$rgw_port/$BUCKET?cors=" \
    -H "content-md5: $(printf '%s' "$cors" | openssl dgst -md5 -binary | base64)" \
    -H 'content-type: application/xml' --data-binary "$cors" >/dev/null

  cat <<EOF
INLET_S3_TEST_DIR=$dir
INLET_S3_ENDPOINT=http://127.0.0.1:$rgw_port
INLET_S3_REGION=$REGION
INLET_S3_BUCKET=$BUCKET
INLET_S3_ACCESS_KEY_ID=$ACCESS_KEY_ID
INLET_S3_SECRET_ACCESS_KEY=$SECRET_ACCESS_KEY
INLET_S3_FORCE_PATH_STYLE=true
EOF
}

case "${1:-}" in
  start)
    dir=${2:-$(mktemp -d /tmp/inlet-s3-XXXXXX)}
    # A function called as an `if` condition runs without `set -e`, so run it in a plain subshell.
    set +e
    (
      set -e
      start_cluster "$dir"
    )
    status=$?
    set -e
    if [ "$status" -ne 0 ]; then
      log "The S3 test server failed to start; the last lines of its logs follow."
      tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true
      stop_cluster "$dir"
      exit 1
    fi
    ;;
  stop)
    [ -n "${2:-}" ] || { log "usage: $0 stop DIR"; exit 2; }
    stop_cluster "$2"
    ;;
  *)
    log "usage: $0 start [DIR] | $0 stop DIR"
    exit 2
    ;;
esac
