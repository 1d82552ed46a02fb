"""The GitLab pipeline, the Sonar settings and the Dockerfiles, checked here since no runner is at hand."""

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


def test_tests_run_against_the_real_broker_and_database(pipeline):
    test = resolved(pipeline, jobs_of(pipeline)["test"])
    services = {service["name"].split(":")[0] for service in test["services"]}
    assert {"rabbitmq", "postgres"} <= services
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
