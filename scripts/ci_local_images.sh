#!/usr/bin/env bash
# make ci-local: the jobs of .gitlab-ci.yml named on the command line, run by gitlab-ci-local in podman
# containers on the project's images (localhost/vtac-*:$IMAGE_TAG, built by make images / make ci-images),
# given through the pipeline's image variables, as a GitLab docker runner would run them. No registry here:
# gitlab-ci-local's utility container is the job image, its service wait the ci-wait image. Then removes
# what gitlab-ci-local leaves behind with podman 4.3 (job and service containers, volumes, networks).
#   scripts/ci_local_images.sh path/to/gitlab-ci-local job...
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/docker/containers.conf}"
: "${IMAGE_TAG:?set IMAGE_TAG (make ci-local sets it)}"
gcl=$1
shift
image() { echo "localhost/vtac-$1:$IMAGE_TAG"; }

# What gitlab-ci-local created: volumes gcl-<job>-<id>-{build,tmp} with the containers that use them, and
# networks gitlab-ci-local-<id> with the service containers on them.
leftovers() {
    local volumes networks name
    volumes=$(podman volume ls --quiet --filter 'name=^gcl-')
    networks=$(podman network ls --quiet --filter 'name=^gitlab-ci-local-')
    for name in $volumes; do
        podman ps --all --quiet --filter "volume=$name" | xargs --no-run-if-empty podman rm --force --volumes
    done
    for name in $networks; do
        podman ps --all --quiet --filter "network=$name" | xargs --no-run-if-empty podman rm --force --volumes
    done
    echo "$volumes" | xargs --no-run-if-empty podman volume rm --force > /dev/null
    echo "$networks" | xargs --no-run-if-empty podman network rm --force > /dev/null
}
trap leftovers EXIT

"$gcl" --container-executable podman --pull-policy if-not-present \
    --helper-image "$(image ci)" --wait-image "$(image ci-wait)" \
    --ca-file /etc/ssl/certs/ca-certificates.crt --no-evaluate-rule-changes --timestamps \
    --variable "CI_JOB_IMAGE=$(image ci)" \
    --variable "RABBITMQ_SERVICE_IMAGE=$(image ci-rabbitmq)" \
    --variable "POSTGRES_SERVICE_IMAGE=$(image ci-postgres)" \
    --variable "BASE_IMAGE=$(image base)" \
    --variable "CORE_IMAGE=$(image core)" \
    --variable "FULL_IMAGE=$(image full)" \
    "$@"
