"""The GitLab pipeline, the Sonar settings and the Dockerfiles, checked here since no runner is at hand."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import REPO

GITLAB_KEYWORDS = {"stages", "variables", "default", "include", "workflow", "image", "services", "cache"}


@pytest.fixture(scope="module")
def pipeline():
    return yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())


def jobs_of(pipeline):
    return {
        name: job for name, job in pipeline.items() if name not in GITLAB_KEYWORDS and isinstance(job, dict)
    }


def resolved(pipeline, job):
    """A job merged with the templates it extends (GitLab's deep merge is not needed for these keys)."""
    merged: dict[str, Any] = {}
    for parent in [job["extends"]] if isinstance(job.get("extends"), str) else job.get("extends", []):
        merged |= resolved(pipeline, pipeline[parent])
    return merged | job


def test_every_job_runs_in_a_declared_stage(pipeline):
    stages = pipeline["stages"]
    for name, job in jobs_of(pipeline).items():
        if not name.startswith("."):
            assert resolved(pipeline, job).get("stage") in stages, name


def test_every_extends_and_needs_resolves(pipeline):
    jobs = jobs_of(pipeline)
    for name, job in jobs.items():
        for parent in [job["extends"]] if isinstance(job.get("extends"), str) else job.get("extends", []):
            assert parent in jobs, f"{name} extends unknown {parent}"
        for need in job.get("needs", []):
            target = need["job"] if isinstance(need, dict) else need
            assert target in jobs and not target.startswith("."), f"{name} needs unknown {target}"


def test_every_make_target_the_pipeline_calls_exists(pipeline):
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    called = set()
    for job in jobs_of(pipeline).values():
        for line in job.get("script", []):
            called |= set(re.findall(r"\bmake ([a-z][a-z-]*)", line))
    assert called and called <= targets


def expand(text, variables):
    return re.sub(r"\$\{?(\w+)\}?", lambda match: str(variables.get(match.group(1), match.group(0))), text)


def test_tests_run_against_the_real_broker_and_database(pipeline):
    test = resolved(pipeline, jobs_of(pipeline)["test"])
    variables = pipeline["variables"] | test["variables"]
    services = {expand(service["name"], variables): service["alias"] for service in test["services"]}
    assert services == {
        "$CI_REGISTRY_IMAGE/ci-rabbitmq:$CI_COMMIT_SHORT_SHA": "rabbitmq",
        "$CI_REGISTRY_IMAGE/ci-postgres:$CI_COMMIT_SHORT_SHA": "postgres",
    }
    assert expand(variables["VTAC_TEST_AMQP_URL"], variables).startswith("amqp://guest:guest@rabbitmq:5672")
    assert "@postgres:5432/" in expand(variables["VTAC_TEST_POSTGRES_URL"], variables)
    assert test["artifacts"]["reports"]["coverage_report"]["coverage_format"] == "cobertura"
    assert re.search(test["coverage"].strip("/"), "TOTAL     2827     23    546     17    99.12%")


def dockerfile_stages(name):
    """{stage name: its instructions, continuation lines joined} (a stage without AS: its position)."""
    stages: dict[str, list[str]] = {}
    current: str | None = None
    for line in (REPO / name).read_text().replace("\\\n", " ").splitlines():
        if line.startswith("FROM "):
            words = line.split()
            current = words[3] if len(words) > 3 else str(len(stages))
            stages[current] = []
        elif current is not None and line and not line.startswith("#"):
            stages[current].append(line)
    return stages


def test_the_test_job_image_has_what_the_fault_suite_starts_itself(pipeline):
    stages = dockerfile_stages("Dockerfile.ci")
    job_image = " ".join(stages["ci"])
    for package in ("rabbitmq-server", "postgresql-15", "fitsverify", "chromium", "make", "rsync"):
        assert f" {package} " in job_image, package
    assert "/usr/lib/postgresql/15/bin" in (REPO / "tests" / "fault_rig.py").read_text()
    assert "ENV VENV=/opt/vtac" in job_image  # make reuses the dev tools the image installed
    before = resolved(pipeline, jobs_of(pipeline)["lint"])["before_script"]
    assert 'ln -s "$VENV" .venv' in before[-1]  # and the README's `source .venv/bin/activate` finds them
    assert "EXPOSE 5672 15672" in stages["ci-rabbitmq"] and "loopback_users = none" in str(
        stages["ci-rabbitmq"]
    )
    assert "EXPOSE 5432" in stages["ci-postgres"] and "createdb test" in str(stages["ci-postgres"])
    for name in ("lint", "test", "coverage"):
        assert resolved(pipeline, jobs_of(pipeline)[name])["image"] == "$CI_JOB_IMAGE"


def test_every_image_is_a_variable_and_none_floats_on_latest(pipeline):
    variables = pipeline["variables"]
    for name in jobs_of(pipeline):
        job = resolved(pipeline, pipeline[name])
        for image in [job.get("image")] + [service["name"] for service in job.get("services", [])]:
            if image is not None:
                assert re.fullmatch(r"\$\w+", image) and image[1:] in variables, f"{name}: {image}"
    images = {name: image for name, image in variables.items() if name.endswith("_IMAGE")}
    assert len(images) >= 9
    for name, image in images.items():
        assert ":" in image and not image.endswith(":latest"), name
        if image.startswith("$CI_REGISTRY_IMAGE/"):
            assert image.endswith(":$CI_COMMIT_SHORT_SHA"), name


def build_commands(pipeline):
    """Every image build of the pipeline and of `make images` (scripts/make_images.sh)."""
    lines = [line for job in jobs_of(pipeline).values() for line in job.get("script", [])]
    lines += (REPO / "scripts" / "make_images.sh").read_text().split("\n")
    return [line for line in lines if re.search(r"\b(buildah bud|podman build)\b", line)]


def test_every_image_is_built_in_docker_format_so_the_healthcheck_stays(pipeline):
    commands = build_commands(pipeline)
    assert len(commands) == 5  # image-base, image-ci, image-core, image-full; make_images.sh
    for command in commands:
        assert "--format docker" in command, command


def test_the_base_and_ci_images_reuse_cached_layers_when_their_inputs_do_not_change(pipeline):
    for name in ("image-base", "image-ci"):
        (command,) = [line for line in jobs_of(pipeline)[name]["script"] if "buildah bud" in line]
        assert "--layers" in command and "--cache-from" in command and "--cache-to" in command, name


@pytest.mark.subprocess
def test_the_one_off_job_runs_as_written(pipeline, tmp_path):
    """The job's script as a runner's shell gets it (only /tmp moved), on the installed vtac command."""
    script = "\n".join(jobs_of(pipeline)["one-off-in-image"]["script"]).replace("/tmp/", f"{tmp_path}/")
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        env={"PATH": path, "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "products" / "QPO_VT_sb26050905.fits").stat().st_size > 0


def test_layers_mean_what_they_say():
    """Core = base + the package (built in a throw-away stage: no source copy stored); full = core + the
    service's operational setup (user, state volume, settings, health check, entrypoint)."""
    core = dockerfile_stages("Dockerfile.core")
    assert [line.split()[0] for line in core["1"]] == ["RUN", "CMD"]
    assert "--mount=type=bind,from=wheel" in core["1"][0]
    full = " ".join(dockerfile_stages("Dockerfile.full")["0"])
    for instruction in ("useradd", "USER 10001", "VOLUME", "ENV VTAC_", "HEALTHCHECK", "ENTRYPOINT"):
        assert instruction in full, instruction
    for name in ("Dockerfile.base", "Dockerfile.core"):
        text = (REPO / name).read_text()
        assert not re.search(r"^(USER|HEALTHCHECK|ENTRYPOINT|VOLUME)", text, flags=re.MULTILINE), name
    for name in ("Dockerfile.base", "Dockerfile.core", "Dockerfile.full", "Dockerfile.ci"):
        text = (REPO / name).read_text()
        copied = re.findall(r"^COPY (?:\S+ )+(\S+)$", text, flags=re.MULTILINE)
        removed = " ".join(re.findall(r"\brm -\w+ ([^&\n]+)", text))
        assert not [target for target in copied if target.rstrip("/") in removed], name


def test_no_cached_layer_installs_what_an_older_tree_gave_it(pipeline):
    """A layer cache (podman 4.3, buildah) keys a RUN on its text, not on what it bind-mounts: files of the
    context are copied (their content keys the cache), and the core image, whose install mounts the wheel
    its first stage built, is never taken from the cache by make images (the GitLab job keeps no cache)."""
    for name in ("Dockerfile.base", "Dockerfile.core", "Dockerfile.full", "Dockerfile.ci"):
        mounts = re.findall(r"--mount=type=bind,\S+", (REPO / name).read_text())
        assert all(",from=" in mount for mount in mounts), name
    script = (REPO / "scripts" / "make_images.sh").read_text()
    assert re.search(r"^\s*build Dockerfile.core core --layers=false ", script, flags=re.MULTILINE)
    assert "--layers" not in jobs_of(pipeline)["image-core"]["script"][0]


def test_sonar_reads_the_reports_the_tests_write():
    properties = dict(
        line.split("=", 1)
        for line in (REPO / "sonar-project.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert properties["sonar.python.version"] == "3.11"
    assert properties["sonar.python.coverage.reportPaths"] == "coverage.xml"
    assert properties["sonar.python.xunit.reportPath"] == "junit.xml"
    makefile = (REPO / "Makefile").read_text()
    assert "--cov-report=xml:coverage.xml" in makefile and "--junitxml=junit.xml" in makefile
    assert "relative_files = true" in (REPO / "pyproject.toml").read_text()


@pytest.mark.subprocess
def test_dockerfiles_are_hadolint_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    dockerfiles = [str(REPO / f"Dockerfile.{name}") for name in ("base", "core", "full", "ci")]
    result = subprocess.run([hadolint, *dockerfiles], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_images_chain_through_build_arguments():
    core = (REPO / "Dockerfile.core").read_text()
    full = (REPO / "Dockerfile.full").read_text()
    assert "ARG BASE_IMAGE=" in core and "FROM ${BASE_IMAGE}" in core
    assert "ARG CORE_IMAGE=" in full and "FROM ${CORE_IMAGE}" in full
    assert 'ENTRYPOINT ["vtac", "serve"]' in full and "HEALTHCHECK" in full


def test_make_ci_local_shell_runs_the_lint_and_test_jobs_on_the_machines_services(pipeline):
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nci-local-shell:", 1)[1].split("\n\n", 1)[0]
    for option in ("--force-shell-executor", "--shell-isolation", "$(CI_LOCAL_SHELL_JOBS)"):
        assert option in recipe
    assert "\nCI_LOCAL_SHELL_JOBS ?= lint test\n" in makefile  # both jobs unless told otherwise
    for image in ("RABBITMQ_SERVICE_IMAGE", "POSTGRES_SERVICE_IMAGE"):  # no container: an empty service name
        assert f"--variable {image}= " in recipe and image in pipeline["variables"]
    for host in ("RABBITMQ_HOST", "POSTGRES_HOST"):
        assert f"--variable {host}=127.0.0.1" in recipe and host in pipeline["variables"]
    folder = REPO / ".ci" / "gitlab-ci-local"
    package = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    assert package["dependencies"] == {"gitlab-ci-local": "4.73.0"}  # 4.75.x does not run on Node 20
    assert lock["packages"]["node_modules/gitlab-ci-local"]["version"] == "4.73.0"
    # the suite once (make test), then the jobs that do not run it again, in the project's images
    run = (REPO / ".ci" / "run").read_text().strip()
    assert run.endswith('make test\nmake ci-local CI_LOCAL_JOBS="lint one-off-in-image"')


def test_dev_tools_are_pinned_on_the_images_runtime_stack():
    constraints = (REPO / "constraints-dev.txt").read_text().splitlines()
    pins = {line.split("==")[0].lower() for line in constraints if "==" in line}
    assert {"ruff", "mypy", "pylint", "pytest", "pytest-cov", "pre_commit"} <= pins
    assert "-c requirements.lock" in constraints
    assert "-c constraints-dev.txt" in (REPO / "Makefile").read_text()
    assert "requirements.lock" in (REPO / "Dockerfile.base").read_text()


def test_pre_commit_hooks_are_the_venvs_lint_tools():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (local,) = config["repos"]
    assert local["repo"] == "local"
    entries = {hook["id"]: hook["entry"] for hook in local["hooks"]}
    assert set(entries) == {"ruff", "ruff-format", "mypy", "pylint"}
    assert all(entry.startswith(".venv/bin/") for entry in entries.values())


def makefile_targets():
    return set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def test_the_readme_images_section_gives_the_makefiles_image_commands():
    readme = (REPO / "README.md").read_text()
    assert "\n## Layout\n" in readme
    section = readme.split("\n## Images\n", 1)[1].split("\n## ", 1)[0]
    commands = set(re.findall(r"^make ([a-z-]+)", section, flags=re.MULTILINE))
    assert commands == {"images", "ci-images", "ci-local"} <= makefile_targets()
    for script in ("scripts/make_images.sh", "scripts/ci_local_images.sh"):
        assert script in (REPO / "Makefile").read_text()
    assert "Regenerate the lock" in section  # requirements.lock points here


def test_make_ci_local_runs_the_jobs_in_podman_on_the_projects_images(pipeline):
    makefile = (REPO / "Makefile").read_text()
    assert "\nci-local: $(GCL) images ci-images\n" in makefile  # the images first, built here
    line = re.search(r"^CI_LOCAL_JOBS \?= (.+)$", makefile, flags=re.MULTILINE)
    assert line is not None
    jobs = line.group(1).split()
    assert set(jobs) == {"lint", "test", "coverage", "one-off-in-image"} <= set(jobs_of(pipeline))
    script = (REPO / "scripts" / "ci_local_images.sh").read_text()
    assert "--container-executable podman" in script and "--ca-file" in script
    used = {resolved(pipeline, jobs_of(pipeline)[job]).get("image", "")[1:] for job in jobs} | {
        "RABBITMQ_SERVICE_IMAGE",
        "POSTGRES_SERVICE_IMAGE",
    }
    for variable in used:
        assert re.search(rf'--variable "{variable}=\$\(image [a-z-]+\)"', script), variable
    stages = dockerfile_stages("Dockerfile.ci")
    for target in re.findall(r"\$\(image ([a-z-]+)\)", script):
        assert target in stages or f"Dockerfile.{target}" in {p.name for p in REPO.iterdir()}, target
    assert "trap leftovers EXIT" in script


def test_one_make_run_tags_every_image_alike():
    """`git describe --dirty` read once: a tree edited during a run must not split its images' tags."""
    makefile = (REPO / "Makefile").read_text()
    assert "IMAGE_TAG := $(shell git describe --always --dirty" in makefile
    assert "ifndef IMAGE_TAG" in makefile and "export IMAGE_TAG" in makefile
