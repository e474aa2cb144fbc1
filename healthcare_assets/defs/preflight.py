"""Check a run's source configuration before its export-batch partition is registered.

The CLI (and anything else that registers batches) calls ``check_source`` first, so a wrong path, an empty
folder, an impossible cohort size or an unreachable FHIR server ends with a one-line reason and leaves no
partition and no folder behind. A run launched from the UI with bad config fails in ``raw_fhir_ndjson`` with
the same kind of message (the asset does not probe a Bulk server: a nightly export rides out an outage).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from healthcare_assets.errors import ConfigError
from healthcare_assets.fhir.preflight import check_ndjson_folder, probe_fhir_server


def check_source(source_config: Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` naming the first problem with the ``raw_fhir_ndjson`` config ``source_config``."""
    from healthcare_assets.defs.extraction import BULK_URL_ENV, SOURCES, RawFhirConfig, synthetic_config

    try:
        config = RawFhirConfig(**source_config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {first['msg']}") from None
    if config.source == "ndjson_dir":
        if not config.path:
            raise ConfigError("source ndjson needs a folder: --path DIR")
        check_ndjson_folder(config.path)
    elif config.source == "synthetic":
        synthetic_config(config)
    elif config.source == "bulk":
        url = config.bulk.url or os.environ.get(BULK_URL_ENV)
        if not url:
            raise ConfigError(f"source bulk needs the FHIR server's base URL: --url URL or ${BULK_URL_ENV}")
        probe_fhir_server(url, config.bulk.ca_bundle)
    else:
        raise ConfigError(f"unknown source {config.source!r}; expected one of {', '.join(SOURCES)}")
