#!/usr/bin/env bash
# Runs every test: unit and integration tests on Node's test runner, then Playwright in Debian's
# Chromium. Installs what is missing first: Debian packages when run as root (otherwise it names
# them and stops), npm packages with `npm ci`. The last line is "N passed, N failed" over all runners.
set -uo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium fonts-noto-cjk readstat python3-pandas python3-openpyxl python3-xlrd radosgw ceph-mon ceph-osd ceph-common curl)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
      echo "apt-get install failed for: ${missing[*]}"
      echo "0 passed, 1 failed"
      exit 1
    }
  else
    echo "Missing Debian packages: ${missing[*]}"
    echo "Install them as root with: apt-get install -y ${missing[*]}"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm packages (npm ci)"
  npm ci --no-audit --no-fund || { echo "0 passed, 1 failed"; exit 1; }
fi

echo "Building the app"
npm run build --silent || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp -d)
s3_dir="$results/s3"
trap 'bash scripts/s3-test-server.sh stop "$s3_dir"; rm -rf "$results"' EXIT
# Temporary files of the tests (data dirs of the servers they start, generated files) go under the
# run's own folder, so the trap removes them whatever a test leaves behind.
export TMPDIR="$results/tmp"
mkdir -p "$TMPDIR"

# One S3-compatible server (Ceph RADOS Gateway) for every S3 test; they read its INLET_S3_* lines.
echo "Starting the S3 test server"
s3_env=$(bash scripts/s3-test-server.sh start "$s3_dir") || { echo "0 passed, 1 failed"; exit 1; }
while IFS= read -r line; do
  export "INLET_TEST_S3_${line#INLET_S3_}"
done <<<"$s3_env"

echo "Running unit and integration tests"
shopt -s nullglob
node_tests=(test/unit/*.test.ts test/integration/*.test.ts)
node --import tsx --test --test-concurrency=2 --test-timeout=300000 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$results/node.tap" \
  "${node_tests[@]}"
node_pass=$(grep -E '^# pass ' "$results/node.tap" | awk '{print $3}')
node_fail=$(grep -E '^# fail ' "$results/node.tap" | awk '{print $3}')
node_cancelled=$(grep -E '^# cancelled ' "$results/node.tap" | awk '{print $3}')
node_pass=${node_pass:-0}
node_fail=$(( ${node_fail:-1} + ${node_cancelled:-0} ))

echo "Running Playwright tests in Chromium"
PLAYWRIGHT_JSON_OUTPUT_NAME="$results/playwright.json" npx playwright test --reporter=list,json
read -r pw_pass pw_fail < <(node -e '
  const fs = require("fs");
  try {
    const stats = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).stats;
    console.log(`${stats.expected + stats.flaky} ${stats.unexpected}`);
  } catch { console.log("0 1"); }
' "$results/playwright.json")

passed=$((node_pass + pw_pass))
failed=$((node_fail + pw_fail))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
