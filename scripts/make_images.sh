#!/usr/bin/env bash
# Builds VTAC's images with podman from a debootstrapped Debian 12 (no registry needed), in docker format so
# that the full image keeps its HEALTHCHECK (OCI images drop it). The host CA bundle is mounted for the build
# steps only (pip and apt reach their registries through it); it is never copied into an image.
#   scripts/make_images.sh service   base -> core -> full           (make images)
#   scripts/make_images.sh ci        base -> ci, ci-rabbitmq, ci-postgres, ci-wait (make ci-images:
#                                    the pipeline's job image, the test job's services, their wait)
# Every image is tagged localhost/vtac-<name>:$IMAGE_TAG (the Makefile: `git describe --always --dirty`).
# Prints each build time and the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"
: "${IMAGE_TAG:?set IMAGE_TAG (make images sets it)}"
OS_IMAGE=localhost/vtac-os:bookworm
CA=/etc/ssl/certs/ca-certificates.crt
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# Debian's podman 4.3 with runc, netavark and aardvark-dns (the test job's service containers are reached by
# name on a network of their own), iptables (netavark sets up that network with it: without it, "netavark: No
# such file or directory"), and debootstrap for the root file system. Installed here when run as root.
packages="podman runc netavark aardvark-dns iptables debootstrap"
missing=$(for package in $packages; do
    dpkg-query --show --showformat='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed || echo "$package"
done | xargs)
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "make images builds as root (debootstrap, podman) and needs Debian's $missing:" \
            "apt-get install $missing" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

if ! podman image exists "$OS_IMAGE"; then
    start=$SECONDS
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR"
    tar -C "$rootfs" -c . | podman import - "$OS_IMAGE"
    rm -rf "$rootfs"
    echo "BUILT $OS_IMAGE in $((SECONDS - start)) s"
fi

image() { echo "localhost/vtac-$1:$IMAGE_TAG"; }
image_id() { podman image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
replaced=()  # the images a rebuild took the tag from, newest first
build() {
    local file=$1 name=$2 start=$SECONDS old
    shift 2
    old=$(image_id "$(image "$name")")
    podman build --format docker --pull=never --network=host --volume "$CA:$CA:ro" \
        -f "$file" -t "$(image "$name")" "$@" .
    [ -z "$old" ] || [ "$old" = "$(image_id "$(image "$name")")" ] || replaced=("$old" "${replaced[@]}")
    echo "BUILT $(image "$name") in $((SECONDS - start)) s"
}

build Dockerfile.base base --build-arg "BASE_IMAGE=$OS_IMAGE"
case "${1:-service}" in
    service)
        # Never from the layer cache: podman 4.3 keys the install step on its text, not on the wheel it
        # mounts, so a cached core would hold an older package (the wheel stage takes a few seconds).
        build Dockerfile.core core --layers=false --build-arg "BASE_IMAGE=$(image base)" \
            --build-arg "VTAC_COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)"
        build Dockerfile.full full --build-arg "CORE_IMAGE=$(image core)"
        ;;
    ci)
        for target in ci ci-rabbitmq ci-postgres ci-wait; do
            build Dockerfile.ci "$target" --target "$target" --build-arg "BASE_IMAGE=$(image base)"
        done
        ;;
    *) echo "usage: $0 service|ci" >&2; exit 2 ;;
esac
# The images a rebuild left untagged (child first; one still tagged elsewhere or in use stays).
for id in "${replaced[@]}"; do podman rmi "$id" > /dev/null 2>&1 || true; done
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep ":$IMAGE_TAG "
