"""The container and Kubernetes manifests parse, and point at the service's real port, probes, options and model."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from healthcare_assets.cli import _parser
from healthcare_assets.serving.app import OPEN_PATHS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PORT = 8080


def _serve_args(args: list[str]):
    """Parse a container's arguments with the real CLI (an unknown or misspelt option fails here)."""
    parsed = _parser().parse_args(["serve", *args])
    assert parsed.handler.__name__ == "_cmd_serve"
    return parsed


def _dockerfile() -> dict[str, list[str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.setdefault(keyword.upper(), []).append(rest.strip())
    return out


def test_dockerfile_slim_pinned_non_root_with_healthcheck() -> None:
    docker = _dockerfile()
    (base,) = docker["FROM"]
    assert re.fullmatch(r"python:3\.1[1-3]\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    (user,) = docker["USER"]
    assert not user.startswith(("0", "root"))
    entry = json.loads(docker["ENTRYPOINT"][0]) + json.loads(docker["CMD"][0])
    assert entry[:2] == ["healthcare-assets", "serve"]
    parsed = _serve_args(entry[2:])
    assert parsed.port == PORT and parsed.host == "0.0.0.0" and parsed.model == "champion"
    assert docker["EXPOSE"] == [str(PORT)]
    (check,) = docker["HEALTHCHECK"]
    assert f"http://127.0.0.1:{PORT}/health" in check and "--start-period" in check
    installs = " ".join(docker["RUN"])
    assert "requirements.lock" in installs and "--no-deps" in installs  # the pinned closure, not a fresh resolve


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def _check_container(container: dict, alias: str, port_name: str | None) -> None:
    parsed = _serve_args(container["args"])
    assert parsed.model == alias
    port = container["ports"][0]
    assert port["containerPort"] == PORT
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["path"] in OPEN_PATHS  # probes need no token
        assert get["port"] in (PORT, port_name or port["name"])
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    env = {e["name"]: e for e in container["env"]}
    assert "MLFLOW_TRACKING_URI" in env and "secretKeyRef" in env["HEALTHCARE_ASSETS_SERVE_TOKEN"]["valueFrom"]


@pytest.mark.parametrize(("name", "alias"), [("serving.yaml", "champion"), ("serving-shadow.yaml", "challenger")])
def test_deployment_and_service(name: str, alias: str) -> None:
    deployment, service = _documents(name)
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"]["healthcare-assets/model-uri"] == f"models:/readmission_30d@{alias}"
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    (container,) = template["spec"]["containers"]
    _check_container(container, alias, None)
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(PORT)
    if alias == "challenger":  # the shadow is never the Service clients call
        champion_service = _documents("serving.yaml")[1]
        assert not champion_service["spec"]["selector"].items() <= template["metadata"]["labels"].items()


def test_kserve_inference_service() -> None:
    (isvc,) = _documents("inferenceservice.yaml")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["annotations"]["healthcare-assets/model-uri"] == "models:/readmission_30d@champion"
    (container,) = isvc["spec"]["predictor"]["containers"]
    _check_container(container, "champion", None)
    assert shlex.join(container["args"])  # plain strings
