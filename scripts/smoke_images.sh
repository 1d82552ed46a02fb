#!/usr/bin/env bash
# Smoke test of the core image: the one-off job, offline, as an arbitrary non-root user (nobody), on a
# simulated burst. Then the layers: the core image adds the vtac package and nothing else (no source copy), and
# no image deletes what the one below it stored.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"
: "${IMAGE_TAG:?set IMAGE_TAG (make images sets it)}"
image() { echo "localhost/vtac-$1:$IMAGE_TAG"; }
CORE=$(image core)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
run() { podman run --rm --network=none --user 65534:65534 -v "$work:/work" "$CORE" "$@"; }
run vtac simulate --out /work/in --half-width 2.92 --seed 3 > /dev/null
run sh -c 'vtac make-qpo-vt --srclist /work/in/QSRCLIST_VT_R_sb26050905.fits \
    --srclist /work/in/QSRCLIST_VT_B_sb26050905.fits --mxt /work/in/QPO_MXT_sb26050905.fits \
    --catalog "SDSS12=$(python -c "from vtac.simulation.sky import data_path as p; print(p(\"sdss12_egs_1deg.fits\"))")" \
    --out /work/out --simulated'
test -s "$work/out/QPO_VT_sb26050905.fits" && test -s "$work/out/QPO_VT_sb26050905.json"
test -s "$work/out/QPO_VT_sb26050905.html" && test -s "$work/out/QPO_VT_sb26050905_voevent.xml"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['best_candidates'], s" "$work/out/QPO_VT_sb26050905.json"
echo "SMOKE core image: QPO_VT and the burst page written offline as nobody, best candidate found"

# The core layer is the installed package: no /src, no wheel left behind (not even as whiteouts).
base_layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "$(image base)")
core_layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "$CORE")
test "$core_layers" -eq $((base_layers + 1)) || { echo "core adds $((core_layers - base_layers)) layers" >&2; exit 1; }
# The package is the one of this tree and commit (not a cached older build).
package=/opt/vtac/lib/python3.11/site-packages/vtac
podman run --rm --network=none -v "$PWD/vtac:/src:ro" "$CORE" diff -rq -x __pycache__ -x COMMIT /src "$package"
built=$(podman run --rm --network=none "$CORE" cat "$package/COMMIT")
test "$built" = "$(git rev-parse HEAD 2>/dev/null || echo unknown)" || { echo "core holds commit $built" >&2; exit 1; }
if podman run --rm --network=none "$CORE" sh -c 'test -e /src || ls /run/vtac 2>/dev/null | grep -q .'; then
    echo "the core image holds build leftovers (/src or /run/vtac)" >&2
    exit 1
fi
echo "SMOKE core image: one layer over base, the package of this tree and commit, no build leftovers"

# No image deletes what the one below it stored (a deleted file still weighs in the layer that holds it).
for pair in "$(image base) localhost/vtac-os:bookworm" "$CORE $(image base)" "$(image full) $CORE"; do
    deleted=$(podman image diff $pair | grep '^D ' || true)
    test -z "$deleted" || { echo "${pair% *} deletes from ${pair#* }: $deleted" >&2; exit 1; }
done
echo "SMOKE base, core, full: none deletes a file of the image below it"
