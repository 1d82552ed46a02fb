#!/usr/bin/env bash
# make images: build base -> core -> full with podman, from a debootstrapped Debian 12: no registry needed.
# The host CA bundle is mounted for the build steps only (pip reaches PyPI through it); it is never copied
# into an image. Prints build times and sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"
OS_IMAGE=localhost/vtac-os:bookworm
CA=/etc/ssl/certs/ca-certificates.crt
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2"; }; }
need podman podman
need runc runc
need debootstrap debootstrap

if ! podman image exists "$OS_IMAGE"; then
    rootfs=$(mktemp -d)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$MIRROR"
    tar -C "$rootfs" -c . | podman import - "$OS_IMAGE"
    rm -rf "$rootfs"
fi

build() {
    local file=$1 tag=$2 start=$SECONDS
    shift 2
    podman build --pull=never --network=host --volume "$CA:$CA:ro" -f "$file" -t "$tag" "$@" .
    echo "BUILT $tag in $((SECONDS - start)) s"
}
build Dockerfile.base localhost/vtac-base:latest --build-arg "BASE_IMAGE=$OS_IMAGE"
build Dockerfile.core localhost/vtac-core:latest --build-arg BASE_IMAGE=localhost/vtac-base:latest
build Dockerfile.full localhost/vtac-full:latest --build-arg CORE_IMAGE=localhost/vtac-core:latest
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep vtac
