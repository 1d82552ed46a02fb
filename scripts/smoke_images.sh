#!/usr/bin/env bash
# Smoke test of the built images: the one-off job inside the core image, offline, on a simulated burst.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
run() { podman run --rm --network=none -v "$work:/work" localhost/vtac-core:latest "$@"; }
run vtac simulate --out /work/in --half-width 2.92 --seed 3 > /dev/null
run sh -c 'vtac make-qpo-vt --srclist /work/in/QSRCLIST_VT_R_sb26050905.fits \
    --srclist /work/in/QSRCLIST_VT_B_sb26050905.fits --mxt /work/in/QPO_MXT_sb26050905.fits \
    --catalog "SDSS12=$(python -c "from vtac.simulation.sky import data_path as p; print(p(\"sdss12_egs_1deg.fits\"))")" \
    --out /work/out --simulated'
test -s "$work/out/QPO_VT_sb26050905.fits" && test -s "$work/out/QPO_VT_sb26050905.json"
test -s "$work/out/QPO_VT_sb26050905.html" && test -s "$work/out/QPO_VT_sb26050905_voevent.xml"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['best_candidates'], s" "$work/out/QPO_VT_sb26050905.json"
echo "SMOKE core image: QPO_VT and the burst page written offline, best candidate found"
