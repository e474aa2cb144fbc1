"""Checks a source must pass before a batch is registered: cheap, quick, and with a one-line reason.

A wrong folder, an empty one or a server that does not answer would otherwise only show up inside a run, after
its partition was added for good. Nothing here reads a resource: a folder is listed, a server is asked for its
``/metadata`` once, with a short timeout and no retries (the export itself retries patiently).
"""

from __future__ import annotations

from pathlib import Path

import requests

from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.bulk.events import redact_url
from healthcare_assets.fhir.ndjson import is_ndjson_name, type_from_content, type_from_name

PROBE_TIMEOUT_S = 5.0


def check_ndjson_folder(path: str | Path) -> Path:
    """The folder exists and holds at least one ``*.ndjson`` / ``*.ndjson.gz`` file; returns it resolved."""
    folder = Path(path).expanduser().resolve()
    if not folder.exists():
        raise ConfigError(f"{folder}: no such folder", file=str(folder))
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder (give the folder that holds the *.ndjson files)", file=str(folder))
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_ndjson_name(p))
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot be listed ({exc.strerror})", file=str(folder)) from None
    if not files:
        raise ConfigError(f"{folder}: no *.ndjson or *.ndjson.gz files", file=str(folder))
    # Files whose type is unknown are set aside at landing, but a folder of nothing else cannot make a batch.
    if not any(type_from_name(p) or type_from_content(p, max_lines=20) for p in files):
        names = ", ".join(p.name for p in files[:5]) + (", ..." if len(files) > 5 else "")
        raise ConfigError(
            f"{folder}: no file whose resource type its name or first lines tell ({names}); name files "
            "<Type>.ndjson or check that they hold FHIR resources",
            file=str(folder),
        )
    return folder


def probe_fhir_server(base_url: str, ca_bundle: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """Ask ``base_url/metadata`` once; any HTTP answer (even 401) means reachable. Returns the status."""
    shown = redact_url(base_url)
    if not base_url.lower().startswith(("http://", "https://")):
        raise ConfigError(f"{shown}: not an http(s) URL")
    url = base_url.rstrip("/") + "/metadata"
    try:
        response = requests.get(
            url,
            headers={"Accept": "application/fhir+json"},
            timeout=(timeout_s, timeout_s),
            verify=ca_bundle or True,
            allow_redirects=False,
            stream=True,  # the status is enough; the body is never read
        )
    except requests.exceptions.SSLError:
        raise ConfigError(f"cannot reach the FHIR server {shown}: TLS verification failed (try --ca-bundle)") from None
    except requests.exceptions.Timeout:
        raise ConfigError(f"cannot reach the FHIR server {shown}: no answer within {timeout_s:.0f} s") from None
    except requests.exceptions.ConnectionError:
        raise ConfigError(
            f"cannot reach the FHIR server {shown}: connection failed (refused, or the host name does not resolve)"
        ) from None
    except requests.exceptions.RequestException as exc:
        raise ConfigError(f"cannot reach the FHIR server {shown}: {type(exc).__name__}") from None
    response.close()
    return response.status_code
