"""The code location loads, and its graph is wired right (``dg check defs`` does not catch check typos)."""

from __future__ import annotations

import re
import tomllib

from dagster import AssetKey

from healthcare_assets.definitions import defs
from healthcare_assets_tests.conftest import REPO

# DESIGN.md "Names others rely on": keys that exist from this issue on.
REQUIRED_KEYS = {"raw_fhir_ndjson", "fhir_profile"}
GROUPS = {"extraction", "deidentification", "features", "training", "validation", "registry", "monitoring", "audit"}


def test_every_asset_check_targets_an_existing_asset() -> None:
    graph = defs.resolve_asset_graph()
    assets = graph.get_all_asset_keys()
    assert graph.asset_check_keys, "expected at least the structural check"
    for check_key in graph.asset_check_keys:
        assert check_key.asset_key in assets, f"check {check_key.name} targets missing {check_key.asset_key}"


def test_required_assets_exist_with_description_group_and_code_version() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert REQUIRED_KEYS <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue  # a dependency declared before the stage that builds it is merged (no code of ours)
        assert node.description, f"{key} has no description"
        assert node.code_version, f"{key} has no code_version"
        assert node.group_name in GROUPS, f"{key} is in group {node.group_name}"
        assert re.fullmatch(r"[a-z][a-z0-9_]*", key.to_user_string()), key


def test_structural_check_is_blocking() -> None:
    graph = defs.resolve_asset_graph()
    spec = graph.get_check_spec(next(k for k in graph.asset_check_keys if k.name == "structural_integrity"))
    assert spec.blocking and spec.asset_key == AssetKey("fhir_profile")


def test_workspace_points_at_the_definitions() -> None:
    text = (REPO / "workspace.yaml").read_text()
    assert "module_name: healthcare_assets.definitions" in text and "attribute: defs" in text


def test_dependencies_are_pinned_and_match_the_lock() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = {}
    for line in (REPO / "deploy" / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            lock[name.strip().lower().replace("_", "-")] = version.strip()
    dagster_versions = set()
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name, sep, version = requirement.partition("==")
        assert sep, f"{requirement} is not pinned exactly"
        key = name.lower().replace("_", "-")
        assert lock.get(key) == version, f"{requirement} differs from deploy/requirements.lock ({lock.get(key)})"
        if key.startswith("dagster"):
            major, minor, patch = version.split(".")
            # Core packages are 1.X.Y and libraries 0.(X+16).Y within one release: 1.13.27 pairs with 0.29.27.
            dagster_versions.add((int(minor) + (16 if major == "1" else 0), patch))
    assert len(dagster_versions) == 1, dagster_versions
