"""The ``healthcare-assets`` command line: run a batch through the pipeline, verify the audit trail, open the UI."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from healthcare_assets.config import HOME_ENV, Paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "home", None):
        os.environ[HOME_ENV] = str(Path(args.home).expanduser().resolve())
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthcare-assets",
        description="FHIR data to a validated, monitored, audited clinical risk model, as Dagster assets.",
    )
    parser.add_argument("--home", help=f"data directory (default: ${HOME_ENV} or ./.healthcare_assets)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="land a new export batch and materialize it through every asset")
    run.add_argument(
        "--source",
        choices=["synthetic", "ndjson", "bulk"],
        default="synthetic",
        help="where the batch comes from: the synthetic cohort, a folder of NDJSON, or a FHIR Bulk $export",
    )
    run.add_argument("--patients", type=int, default=2000, help="synthetic: number of patients (default 2000)")
    run.add_argument("--seed", type=int, default=42, help="synthetic: random seed (default 42)")
    run.add_argument("--path", help="ndjson: folder of *.ndjson / *.ndjson.gz files (e.g. Synthea output)")
    run.add_argument("--batch-id", help="partition key for the batch (default: time-stamped and unique)")
    run.add_argument("--malformed-rate", type=float, help="synthetic: share of malformed lines")
    run.add_argument("--duplicate-rate", type=float, help="synthetic: share of duplicated lines")
    run.add_argument("--case-mix-shift", type=float, default=0.0, help="synthetic drift: older, sicker cohort")
    run.add_argument("--creatinine-shift", type=float, default=0.0, help="synthetic drift: creatinine bias, mg/dL")
    run.add_argument("--icd10-dropped", action="store_true", help="synthetic drift: SNOMED-only conditions")
    run.add_argument(
        "--signal-strength",
        type=float,
        help="synthetic: how strongly the true risk depends on the chart (default 3.0: oracle AUROC ~0.94; "
        "0.5 is realistic: ~0.70)",
    )
    bulk = run.add_argument_group("bulk ($export from a FHIR server)")
    bulk.add_argument("--url", help="FHIR base URL (default $HEALTHCARE_ASSETS_BULK_URL)")
    bulk.add_argument("--level", choices=["system", "patient", "group"], default="system", help="export level")
    bulk.add_argument("--group-id", help="Group id for --level group")
    bulk.add_argument("--types", help="comma-separated resource types (default: what the views read)")
    bulk.add_argument(
        "--since", default="auto", help="auto (incremental from the last export of this server), none, or an instant"
    )
    bulk.add_argument("--type-filter", action="append", default=[], help="a _typeFilter query (repeatable)")
    bulk.add_argument("--client-id", help="SMART Backend Services client id (enables signed-JWT auth)")
    bulk.add_argument("--key-file", help="private key file (JWK or PEM)")
    bulk.add_argument(
        "--key-env", default="HEALTHCARE_ASSETS_BULK_PRIVATE_KEY", help="environment variable holding the key"
    )
    bulk.add_argument("--kid", help="key id registered with the server")
    bulk.add_argument("--algorithm", choices=["RS384", "ES384"], help="signing algorithm (default: from the key)")
    bulk.add_argument("--scope", default="system/*.read", help="system scopes, v1 (.read) or v2 (.rs)")
    bulk.add_argument("--token-url", help="token endpoint, when the server's .well-known cannot be read")
    bulk.add_argument("--ca-bundle", help="CA bundle for a private CA (TLS is always verified)")
    run.set_defaults(handler=_cmd_run)

    audit = commands.add_parser("audit", help="the tamper-evident audit trail")
    audit_commands = audit.add_subparsers(title="audit commands", metavar="AUDIT_COMMAND")
    verify = audit_commands.add_parser("verify", help="check the hash chain; exit 1 and name the first bad record")
    verify.set_defaults(handler=_cmd_audit_verify)
    show = audit_commands.add_parser("show", help="print the latest audit records")
    show.add_argument("--limit", type=int, default=20)
    show.set_defaults(handler=_cmd_audit_show)

    views = commands.add_parser("views", help="SQL on FHIR v2 ViewDefinitions")
    views_commands = views.add_subparsers(title="views commands", metavar="VIEWS_COMMAND")
    conformance = views_commands.add_parser(
        "conformance", help="run an SQL on FHIR test-suite folder and write a report in its test-report format"
    )
    _views_conformance_arguments(conformance)
    conformance.set_defaults(handler=_cmd_views_conformance)

    dev = commands.add_parser(
        "dev-fhir-server", help="serve a folder of NDJSON as a FHIR Bulk Data server on 127.0.0.1 (development)"
    )
    _dev_server_arguments(dev)
    dev.set_defaults(handler=_cmd_dev_fhir_server)

    train = commands.add_parser(
        "train", help="train, validate (clinical gate) and card a model on the training set; registers the challenger"
    )
    train.add_argument("--seed", type=int, default=42, help="seeds the CV folds, the models and the bootstrap")
    train.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="CRITERION=VALUE",
        help="override a clinical gate threshold for this run (recorded in the report, card and audit ledger), "
        "e.g. min_auroc=0.80",
    )
    train.add_argument(
        "--min-subgroup-events",
        type=int,
        help="events (and non-events) a subgroup needs to be judged for fairness (default 100)",
    )
    train.set_defaults(handler=_cmd_train)

    promote = commands.add_parser(
        "promote", help="make a validated version the champion (a person's decision, recorded in the audit ledger)"
    )
    promote.add_argument("version", nargs="?", help="registered version to promote (with --rollback: optional target)")
    promote.add_argument("--approver", required=True, help="name of the person approving")
    promote.add_argument("--reason", required=True, help="rationale for the decision")
    promote.add_argument(
        "--rollback", action="store_true", help="re-point champion to the previous champion (or to VERSION)"
    )
    promote.set_defaults(handler=_cmd_promote)

    ui = commands.add_parser("ui", help="open the Dagster UI on 127.0.0.1 with the same instance as `run`")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_cmd_ui)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")  # Dagster preview/beta warnings would drown the progress lines
    from dagster import DagsterInstance

    from healthcare_assets.defs.extraction import synthetic_options
    from healthcare_assets.defs.instance import prepare_dagster_home
    from healthcare_assets.defs.launcher import launch_batch
    from healthcare_assets.fhir.landing import new_batch_id, validate_batch_id

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)  # step processes inherit the same data directory
    dagster_home = prepare_dagster_home(paths)
    if args.source == "ndjson":
        if not args.path:
            print("error: --source ndjson needs --path DIR", file=sys.stderr)
            return 2
        config = {"source": "ndjson_dir", "path": str(Path(args.path).expanduser().resolve())}
        kind = "ndjson_dir"
    elif args.source == "bulk":
        config = {"source": "bulk", "bulk": _bulk_config(args)}
        kind = "bulk"
    else:
        config = {"source": "synthetic", **synthetic_options(args)}
        kind = "synthetic"
    batch_id = validate_batch_id(args.batch_id) if args.batch_id else new_batch_id(kind)
    print(f"healthcare-assets: batch {batch_id} from {kind} into {paths.home}")
    with DagsterInstance.get() as instance:
        result = launch_batch(instance, batch_id, config, printer=lambda line: print(line, flush=True))
    _print_where(paths, dagster_home, batch_id)
    if not result.success or result.failed_checks:
        for problem in result.errors + [f"blocking check failed: {c}" for c in result.failed_checks]:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return _train_after_batch(paths)


def _train_after_batch(paths: Paths) -> int:
    """The training job after a successful batch, once the features stage that builds training_set is present."""
    from healthcare_assets.defs.model_launcher import FEATURES_ENTRY, features_stage_present

    if not features_stage_present():
        print(f"\ntraining: skipped (this code location has no {FEATURES_ENTRY} asset yet)")
        return 0
    print("\ntraining the model on every batch's training set")
    return _cmd_train(argparse.Namespace(seed=None, gate=[], min_subgroup_events=None))


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        validation: dict[str, float | int] = _gate_overrides(args.gate)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.min_subgroup_events is not None:
        validation["min_subgroup_events"] = args.min_subgroup_events
    ops: dict[str, dict] = {}
    if args.seed is not None:
        ops["candidate_models"] = {"seed": args.seed}
        validation["seed"] = args.seed
    if validation:
        ops["validation_report"] = validation
    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance

    from healthcare_assets.defs.instance import prepare_dagster_home
    from healthcare_assets.defs.model_launcher import launch_training

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    with DagsterInstance.get() as instance:
        result = launch_training(instance, printer=lambda line: print(line, flush=True), ops_config=ops)
    if not any(error.startswith("candidate_models") for error in result.errors):
        _print_model(paths)  # a training that failed before registering anything has no new model to show
    if not result.success or result.failed_checks:
        for problem in result.errors + [f"blocking check failed: {c}" for c in result.failed_checks]:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def _gate_overrides(pairs: list[str]) -> dict[str, float]:
    """``CRITERION=VALUE`` pairs for the validation_report config, checked against the gate's criteria."""
    from healthcare_assets.modeling.gate import GateCriteria

    known = set(GateCriteria().as_dict())
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in known:
            raise ValueError(f"unknown gate criterion {name!r}; use one of {', '.join(sorted(known))} as NAME=VALUE")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"--gate {pair}: {value!r} is not a number") from None
    return out


def _print_model(paths: Paths) -> None:
    from healthcare_assets.defs.model_launcher import where_is_the_model

    try:
        where = where_is_the_model(paths)
    except Exception as exc:  # noqa: BLE001 - the summary must never hide the run's own result
        print(f"(could not read the model registry: {type(exc).__name__})")
        return
    if where is None:
        return
    gated = where.challenger == where.version
    print(
        f"""
Model:
  registered model       {where.registered_model} version {where.version}{" (challenger)" if gated else ""}
  champion               {where.champion or "none yet"}
  validation report      {where.report or "not written"}
  model card             {where.card or "not written (no card without a passed gate)"}
  MLflow                 {where.mlflow}"""
    )
    if gated:
        print(f"Promote it:  healthcare-assets promote {where.version} --approver NAME --reason TEXT")


def _cmd_promote(args: argparse.Namespace) -> int:
    if not args.rollback and not args.version:
        print("error: promote needs the VERSION to promote (or --rollback)", file=sys.stderr)
        return 2
    if args.version is not None and not args.version.isdigit():
        print(f"error: VERSION must be a registered version number, got {args.version!r}", file=sys.stderr)
        return 2
    if not args.approver.strip() or not args.reason.strip():
        print("error: --approver and --reason must not be empty", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance

    from healthcare_assets.defs.instance import prepare_dagster_home
    from healthcare_assets.defs.model_launcher import launch_promotion

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    config = {"approver": args.approver, "reason": args.reason, "rollback": args.rollback}
    if args.version:
        config["version"] = args.version
    with DagsterInstance.get() as instance:
        result = launch_promotion(instance, config, printer=lambda line: print(line, flush=True))
    if not result.success:
        for problem in result.errors:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def _bulk_config(args: argparse.Namespace) -> dict:
    """Only options the user gave; the asset's defaults (and environment variables) fill in the rest."""
    config: dict = {"level": args.level, "since": args.since, "key_env": args.key_env, "scope": args.scope}
    optional = {
        "url": args.url,
        "group_id": args.group_id,
        "client_id": args.client_id,
        "key_file": str(Path(args.key_file).expanduser().resolve()) if args.key_file else None,
        "kid": args.kid,
        "algorithm": args.algorithm,
        "token_url": args.token_url,
        "ca_bundle": args.ca_bundle,
    }
    config.update({k: v for k, v in optional.items() if v})
    if args.types:
        config["types"] = [t.strip() for t in args.types.split(",") if t.strip()]
    if args.type_filter:
        config["type_filters"] = args.type_filter
    return config


def _print_where(paths: Paths, dagster_home: Path, batch_id: str) -> None:
    print(
        f"""
Where things are:
  PHI zone (0700)        {paths.batch_dir(batch_id)}
  warehouse (de-id zone) {paths.warehouse}
  audit ledger           {paths.audit}   (verify: healthcare-assets audit verify)
  Dagster instance       {dagster_home}
Open the UI (runs above are listed there):
  healthcare-assets ui                     # or: DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml
  then browse http://127.0.0.1:3000"""
    )


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from healthcare_assets.audit import AuditLedger, verify_ledger

    ledger = AuditLedger(Paths.from_env().audit)
    result = verify_ledger(ledger)
    print(f"{ledger.path}: {result.describe()}")
    return 0 if result.ok else 1


def _cmd_audit_show(args: argparse.Namespace) -> int:
    from healthcare_assets.audit import AuditLedger

    records = list(AuditLedger(Paths.from_env().audit).records())[-args.limit :]
    for record in records:
        counts = ", ".join(f"{k}={v}" for k, v in record.get("counts", {}).items())
        print(
            f"#{record['seq']} {record['time']} {record['action']} {record.get('asset_key') or ''}"
            f"[{record.get('partition') or ''}] run={str(record.get('run_id') or '')[:8]} "
            f"by={record.get('actor')} {counts} hash={record['hash'][:16]}"
        )
    return 0


def _views_conformance_arguments(parser: argparse.ArgumentParser) -> None:
    from healthcare_assets.fhir.views import conformance

    conformance.add_arguments(parser)


def _cmd_views_conformance(args: argparse.Namespace) -> int:
    """``views conformance DIR --report FILE``: every case of the suite, report in its test-report format."""
    from healthcare_assets.fhir.views import conformance

    return conformance.run_from_args(args)


def _dev_server_arguments(parser: argparse.ArgumentParser) -> None:
    from healthcare_assets.fhir.bulk import devserver

    devserver.add_arguments(parser)


def _cmd_dev_fhir_server(args: argparse.Namespace) -> int:
    from healthcare_assets.fhir.bulk import devserver

    return devserver.serve(args)


def _cmd_ui(args: argparse.Namespace) -> int:
    from healthcare_assets.defs.instance import prepare_dagster_home

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    command = ["dagster", "dev", "-m", "healthcare_assets.definitions", "-h", "127.0.0.1", "-p", str(args.port)]
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {' '.join(command)}")
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
