#!/usr/bin/env bash
# Create a separate venv that can run AllenSDK's real cloud-cache code
# (allensdk.api.cloud_cache), for tests/test_allensdk_compat.py:
#
#   .ci/allensdk-venv.sh /path/to/venv
#   PUBLISHKIT_ALLENSDK_PYTHON=/path/to/venv/bin/python pytest tests/scenarios/test_allensdk_compat.py
#
# allensdk pins old numpy/pandas, so it cannot share publishkit's venv. Its full dependency
# set (~80 packages, ~1.1 GB) is mostly imaging/NWB science stacks the cloud cache never
# uses, so by default we install allensdk --no-deps plus only what importing
# allensdk.api.cloud_cache.cloud_cache pulls in (its own imports, and the package
# __init__ chain allensdk.core -> brain_observatory.comparison_utils -> SimpleITK/xarray,
# -> pynwb), with allensdk's own version pins. ALLENSDK_VENV_FULL=1 installs allensdk
# with all its dependencies instead.
#
# Idempotent: does nothing if the venv already imports the cloud cache.
# Environment: PYTHON (default python3, must be >= 3.11), ALLENSDK_VERSION (default 2.16.2).
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
python=${PYTHON:-python3}
allensdk=${ALLENSDK_VERSION:-2.16.2}
probe="import allensdk.api.cloud_cache.cloud_cache"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$probe" 2>/dev/null; then
    echo "allensdk venv ready: $venv"
    exit 0
fi

"$python" -m venv --clear "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

install() {
    if ! "${pip[@]}" install --only-binary=:all: "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "allensdk venv: pip install $* failed" >&2
        exit 1
    fi
}

if [[ "${ALLENSDK_VENV_FULL:-0}" == 1 ]]; then
    install "allensdk==$allensdk"
else
    # allensdk 2.16.2's own pins: numpy<1.24, pandas==1.5.3, scipy<1.11, xarray<2023.2.0,
    # hdmf!=3.5-3.8. boto3 must be >= 1.28 so the client honours AWS_ENDPOINT_URL.
    install \
        "boto3>=1.28" semver tqdm simplejson python-dateutil \
        "numpy<1.24" "pandas==1.5.3" "scipy<1.11" "xarray<2023.2.0" \
        simpleitk pynwb "hdmf!=3.5.*,!=3.6.*,!=3.7.*,!=3.8.*"
    install --no-deps "allensdk==$allensdk"
fi

if ! "$venv/bin/python" -c "$probe"; then
    echo "allensdk venv: $venv cannot import the cloud cache" >&2
    exit 1
fi
echo "allensdk venv ready: $venv ($("$venv/bin/python" -c 'import allensdk, boto3, pandas, numpy; print(f"allensdk {allensdk.__version__}, boto3 {boto3.__version__}, pandas {pandas.__version__}, numpy {numpy.__version__}")'))"
