"""The GitLab pipeline, the Sonar settings and the Dockerfiles, checked here since no runner is at hand."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
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
    merged = {}
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
    services = {
        expand(service["name"], variables).split(":")[0]: service["alias"] for service in test["services"]
    }
    assert services == {"rabbitmq": "rabbitmq", "postgres": "postgres"}
    assert expand(variables["VTAC_TEST_AMQP_URL"], variables).startswith("amqp://guest:guest@rabbitmq:5672")
    assert "@postgres:5432/" in expand(variables["VTAC_TEST_POSTGRES_URL"], variables)
    assert test["artifacts"]["reports"]["coverage_report"]["coverage_format"] == "cobertura"
    assert re.search(test["coverage"].strip("/"), "TOTAL     2827     23    546     17    99.12%")


def test_the_base_image_is_rebuilt_only_when_its_inputs_change(pipeline):
    rules = jobs_of(pipeline)["image-base"]["rules"]
    assert {"Dockerfile.base", "requirements.lock"} <= set(rules[0]["changes"])


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


def test_dockerfiles_are_hadolint_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    dockerfiles = [str(REPO / name) for name in ("Dockerfile.base", "Dockerfile.core", "Dockerfile.full")]
    result = subprocess.run([hadolint, *dockerfiles], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout == "", result.stdout


def test_images_chain_through_build_arguments():
    core = (REPO / "Dockerfile.core").read_text()
    full = (REPO / "Dockerfile.full").read_text()
    assert "ARG BASE_IMAGE=" in core and "FROM ${BASE_IMAGE}" in core
    assert "ARG CORE_IMAGE=" in full and "FROM ${CORE_IMAGE}" in full
    assert 'ENTRYPOINT ["vtac", "serve"]' in full and "HEALTHCHECK" in full


def test_make_ci_local_runs_the_lint_and_test_jobs_on_the_machines_services(pipeline):
    recipe = (REPO / "Makefile").read_text().split("\nci-local:", 1)[1].split("\n\n", 1)[0]
    for option in ("--force-shell-executor", "--shell-isolation", "lint test"):
        assert option in recipe
    for image in ("RABBITMQ_SERVICE_IMAGE", "POSTGRES_SERVICE_IMAGE"):  # no container: an empty service name
        assert f"--variable {image}= " in recipe and image in pipeline["variables"]
    for host in ("RABBITMQ_HOST", "POSTGRES_HOST"):
        assert f"--variable {host}=127.0.0.1" in recipe and host in pipeline["variables"]
    folder = REPO / ".ci" / "gitlab-ci-local"
    package = json.loads((folder / "package.json").read_text())
    lock = json.loads((folder / "package-lock.json").read_text())
    assert package["dependencies"] == {"gitlab-ci-local": "4.73.0"}  # 4.75.x does not run on Node 20
    assert lock["packages"]["node_modules/gitlab-ci-local"]["version"] == "4.73.0"
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test\nmake ci-local")


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
