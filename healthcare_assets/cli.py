"""The ``healthcare-assets`` command line: run a batch through the pipeline, verify the audit trail, open the UI."""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from healthcare_assets.config import HOME_ENV, Paths
from healthcare_assets.terminal import progress_printer


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the last line of a failure is its one-line cause (the stack only with --verbose)."""
    parser = _parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "home", None):
        os.environ[HOME_ENV] = str(Path(args.home).expanduser().resolve())
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from healthcare_assets.errors import ConfigError, describe

        sys.stdout.flush()
        if getattr(args, "verbose", False):  # code locations only: the message may quote PHI
            print(
                "Traceback (most recent call last):\n" + "".join(traceback.format_tb(exc.__traceback__)),
                file=sys.stderr,
            )
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1  # 2: the arguments or the source were wrong


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless it has none or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or default == []:
            return text
        if "default" in text.lower():
            return text
        return super()._get_help_string(action) or text


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line. Commands whose options come from a heavy module (the conformance runner, the development
    FHIR server) get them only when named in ``argv``, so that every other command starts without importing them."""
    from healthcare_assets.defs.fork_server import AUTO, EXECUTORS, SMALL_BATCH_BYTES, SMALL_BATCH_PATIENTS
    from healthcare_assets.synthetic.config import SyntheticConfig

    words = set(sys.argv[1:] if argv is None else argv)
    synthetic_defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(
        prog="healthcare-assets",
        description="FHIR data to a validated, monitored, audited clinical risk model, as Dagster assets.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--home", help=f"data directory (default: ${HOME_ENV} or ./.healthcare_assets)")
    parser.add_argument("-v", "--verbose", action="store_true", help="on failure, also print the stack trace")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser(
        "run", help="land a new export batch and materialize it through every asset", formatter_class=_HelpFormatter
    )
    run.add_argument(
        "--source",
        choices=["synthetic", "ndjson", "bulk"],
        default="synthetic",
        help="where the batch comes from: the synthetic cohort, a folder of NDJSON, or a FHIR Bulk $export",
    )
    run.add_argument("--patients", type=int, default=2000, help="synthetic: number of patients (1 to 10,000,000)")
    run.add_argument("--seed", type=int, default=42, help="synthetic: random seed (same seed, same cohort)")
    run.add_argument("--path", help="ndjson: folder of *.ndjson / *.ndjson.gz files (e.g. Synthea output)")
    run.add_argument("--batch-id", help="partition key for the batch (default: time-stamped and unique)")
    run.add_argument(
        "--executor",
        choices=(AUTO, *EXECUTORS),
        default=AUTO,
        help="how the batch's steps get a process: forked from a warm server, a fresh interpreter each, or all in "
        f"this one; auto: in this one for a small batch (up to {SMALL_BATCH_PATIENTS:,} synthetic patients or "
        f"{SMALL_BATCH_BYTES >> 20} MiB of NDJSON), forked otherwise",
    )
    run.add_argument(
        "--malformed-rate",
        type=float,
        metavar="P",
        help="synthetic: chance, per line, of an extra malformed line after it "
        f"(default: {synthetic_defaults.malformed_rate})",
    )
    run.add_argument(
        "--duplicate-rate",
        type=float,
        metavar="P",
        help="synthetic: chance, per resource, that its line is written twice "
        f"(default: {synthetic_defaults.duplicate_rate})",
    )
    run.add_argument(
        "--case-mix-shift", type=float, default=0.0, help="synthetic drift: older, sicker cohort (-2 to 3)"
    )
    run.add_argument(
        "--creatinine-shift", type=float, default=0.0, help="synthetic drift: creatinine assay bias, mg/dL (-5 to 5)"
    )
    run.add_argument("--icd10-dropped", action="store_true", help="synthetic drift: SNOMED-only conditions")
    run.add_argument(
        "--signal-strength",
        type=float,
        metavar="S",
        help="synthetic: how strongly the true risk depends on the chart (default: 3.0, oracle AUROC ~0.94; "
        "0.5 is realistic, ~0.70)",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="on failure, also print the stack trace"
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
    bulk.add_argument(
        "--fresh",
        action="store_true",
        help="abandon an interrupted export of the same request (DELETE on the server) instead of resuming it",
    )
    bulk.add_argument(
        "--no-capability-check",
        action="store_true",
        help="do not read the server's CapabilityStatement (for servers whose statement is wrong)",
    )
    bulk.add_argument(
        "--partial-export",
        choices=["warn", "block"],
        default="warn",
        help="a partial export (the server reported failures) goes downstream with a warning, or is blocked",
    )
    run.set_defaults(handler=_cmd_run)

    audit = commands.add_parser("audit", help="the tamper-evident audit trail", formatter_class=_HelpFormatter)
    audit_commands = audit.add_subparsers(title="audit commands", metavar="AUDIT_COMMAND")
    verify = audit_commands.add_parser(
        "verify", help="check the hash chain; exit 1 and name the first bad record", formatter_class=_HelpFormatter
    )
    verify.set_defaults(handler=_cmd_audit_verify)
    show = audit_commands.add_parser("show", help="print the latest audit records", formatter_class=_HelpFormatter)
    show.add_argument("--limit", type=int, default=20, help="how many of the latest records to print")
    show.set_defaults(handler=_cmd_audit_show)

    batches = commands.add_parser(
        "batches", help="list export batches or remove one everywhere", formatter_class=_HelpFormatter
    )
    batches.set_defaults(handler=lambda _args: batches.print_help() or 2)
    batches_commands = batches.add_subparsers(title="batches commands", metavar="BATCHES_COMMAND")
    listing = batches_commands.add_parser(
        "list",
        help="every batch: its last run, whether it landed, lines, quarantined, warehouse rows",
        formatter_class=_HelpFormatter,
    )
    listing.set_defaults(handler=_cmd_batches_list)
    delete = batches_commands.add_parser(
        "delete",
        help="remove a batch: its partition, PHI-zone folder and warehouse rows (recorded in the audit ledger)",
        formatter_class=_HelpFormatter,
    )
    delete.add_argument("batch_id", metavar="BATCH", help="the batch id (see: healthcare-assets batches list)")
    delete.set_defaults(handler=_cmd_batches_delete)

    views = commands.add_parser("views", help="SQL on FHIR v2 ViewDefinitions", formatter_class=_HelpFormatter)
    views_commands = views.add_subparsers(title="views commands", metavar="VIEWS_COMMAND")
    conformance = views_commands.add_parser(
        "conformance",
        help="run an SQL on FHIR test-suite folder and write a report in its test-report format",
        formatter_class=_HelpFormatter,
    )
    if "conformance" in words:
        _views_conformance_arguments(conformance)
    conformance.set_defaults(handler=_cmd_views_conformance)

    dev = commands.add_parser(
        "dev-fhir-server",
        help="serve a folder of NDJSON as a FHIR Bulk Data server on 127.0.0.1 (development)",
        formatter_class=_HelpFormatter,
    )
    if "dev-fhir-server" in words:
        _dev_server_arguments(dev)
    dev.set_defaults(handler=_cmd_dev_fhir_server)

    train = commands.add_parser(
        "train",
        help="train, validate (clinical gate) and card a model on the training set; registers the challenger",
        formatter_class=_HelpFormatter,
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
        help="events (and non-events) a subgroup needs to be judged for fairness (default: 100)",
    )
    train.set_defaults(handler=_cmd_train)

    promote = commands.add_parser(
        "promote",
        help="make a validated version the champion (a person's decision, recorded in the audit ledger)",
        formatter_class=_HelpFormatter,
    )
    promote.add_argument("version", nargs="?", help="registered version to promote (with --rollback: optional target)")
    promote.add_argument("--approver", required=True, help="name of the person approving")
    promote.add_argument("--reason", required=True, help="rationale for the decision")
    promote.add_argument(
        "--rollback", action="store_true", help="re-point champion to the previous champion (or to VERSION)"
    )
    promote.set_defaults(handler=_cmd_promote)

    monitor = commands.add_parser(
        "monitor",
        help="evaluate the retraining sensor once (as the daemon does each minute) and run the retraining it requests",
        formatter_class=_HelpFormatter,
    )
    monitor.add_argument(
        "--dry-run", action="store_true", help="print the decision only: no alert, no run, the cursor stays"
    )
    monitor.set_defaults(handler=_cmd_monitor)

    serve = commands.add_parser(
        "serve",
        help="serve the registered model over HTTP (/predict, /predict/fhir, /health, /ready, /model-card, /metrics)",
        formatter_class=_HelpFormatter,
    )
    serve.add_argument("--model", default="champion", help="champion, challenger or a registered version number")
    serve.add_argument(
        "--shadow",
        default="auto",
        help="model scored alongside, logged and audited but never returned: challenger, a version, none, or auto "
        "(the challenger when it differs from the served version)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="TCP port")
    serve.add_argument("--threshold", type=float, help="alert threshold (default: the validation report's)")
    serve.add_argument("--max-body-bytes", type=int, default=5 * 1024 * 1024, help="largest request body accepted")
    serve.add_argument(
        "--token-env",
        default="HEALTHCARE_ASSETS_SERVE_TOKEN",
        help="environment variable holding a bearer token; when set, requests other than /health, /ready and "
        "/metrics must carry it",
    )
    serve.set_defaults(handler=_cmd_serve)

    trace = commands.add_parser(
        "trace",
        help="print a prediction's audit trail: model version, training run, data hashes, export batches",
        formatter_class=_HelpFormatter,
    )
    trace.add_argument("prediction_id", help="the prediction_id a /predict answer returned")
    trace.set_defaults(handler=_cmd_trace)

    ui = commands.add_parser(
        "ui", help="open the Dagster UI on 127.0.0.1 with the same instance as `run`", formatter_class=_HelpFormatter
    )
    ui.add_argument("--port", type=int, default=3000, help="TCP port of the UI on 127.0.0.1")
    ui.set_defaults(handler=_cmd_ui)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")  # Dagster preview/beta warnings would drown the progress lines
    from healthcare_assets.defs.instance import dagster_home_path, prepare_dagster_home
    from healthcare_assets.gc_tuning import imports_without_gc
    from healthcare_assets.stores import postgres_url

    postgres_url()  # a bad HEALTHCARE_ASSETS_POSTGRES_URL fails before anything starts
    paths = Paths.from_env()
    # The environment steps see is final here (nothing is written yet): the steps' fork server starts now and
    # imports Dagster and the project while this process does the same.
    os.environ[HOME_ENV] = str(paths.home)
    os.environ["DAGSTER_HOME"] = str(dagster_home_path(paths))
    from healthcare_assets.defs.fork_server import choose_executor, start_step_server

    args.executor = choose_executor(args.executor, args.source, args.patients, args.path)
    if args.executor == "forkserver":
        start_step_server()
    with imports_without_gc():  # a fifth faster, and no full garbage collection at exit
        import healthcare_assets.defs.preload  # noqa: F401  (the code location and the instance's storage)
        from healthcare_assets.defs.extraction import synthetic_options
        from healthcare_assets.defs.instance import open_instance
        from healthcare_assets.defs.launcher import launch_batch, launch_training
        from healthcare_assets.defs.preflight import check_source
        from healthcare_assets.errors import ConfigError
        from healthcare_assets.fhir.landing import new_batch_id, validate_batch_id

    if args.source == "ndjson":
        if not args.path:
            raise ConfigError("--source ndjson needs --path DIR (a folder of *.ndjson / *.ndjson.gz files)")
        config = {"source": "ndjson_dir", "path": str(Path(args.path).expanduser().resolve())}
        kind = "ndjson_dir"
    elif args.source == "bulk":
        config = {"source": "bulk", "bulk": _bulk_config(args)}
        kind = "bulk"
    else:
        config = {"source": "synthetic", **synthetic_options(args)}
        kind = "synthetic"
    try:
        resumed = _unfinished_bulk_batch(args, config, paths) if kind == "bulk" and not args.batch_id else None
        batch_id = validate_batch_id(args.batch_id) if args.batch_id else resumed or new_batch_id(kind)
    except ValueError as exc:
        raise ConfigError(f"--batch-id: {exc}") from None
    # Everything that can be known before the run is checked before its partition is registered.
    check_source(config)

    dagster_home = prepare_dagster_home(paths)
    verbose = getattr(args, "verbose", False)
    if resumed:
        print(f"healthcare-assets: resuming the interrupted export of batch {batch_id} (--fresh abandons it)")
    steps = {"in_process": "all in this process", "forkserver": "each forked from a warm server"}
    print(
        f"healthcare-assets: batch {batch_id} from {kind} into {paths.home} "
        f"(steps: {steps.get(args.executor, 'each in a fresh interpreter')}; --executor)"
    )
    with open_instance() as instance:
        result = launch_batch(
            instance,
            batch_id,
            config,
            printer=progress_printer(),
            verbose=verbose,
            executor=args.executor,
        )
        batch_ok = result.success and not result.failed_checks
        if batch_ok:
            # The assets across batches (training set, split, ...) follow the batch: a second, unpartitioned job.
            print("healthcare-assets: cross-batch assets (training set and split) from every batch so far", flush=True)
            training = launch_training(instance, printer=progress_printer(), verbose=verbose)
            result.success = training.success
            result.failed_checks += training.failed_checks
            result.errors += training.errors
            result.warnings += training.warnings
            result.stacks += training.stacks
    _print_summary(result.summary)
    _print_where(paths, dagster_home, batch_id, result.summary)
    if batch_ok:
        _print_model(paths)
    sys.stdout.flush()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.success and not result.failed_checks:
        return 0
    if batch_ok:
        print("The batch is in; the assets across batches failed (re-run the job training_pipeline)", flush=True)
    else:
        print(f"The batch stays listed as failed; remove it with: healthcare-assets batches delete {batch_id}")
    if verbose:
        for stack in result.stacks:
            print(stack, file=sys.stderr)
    errors = result.errors or [f"run {result.run_id} failed (see it in the UI)"]
    for later in errors[1:]:
        print(f"  also: {later}", file=sys.stderr)
    print(f"error: {errors[0]}", file=sys.stderr)  # the first failure is the cause; the last line says it
    return 1


def _unfinished_bulk_batch(args: argparse.Namespace, config: dict, paths: Paths) -> str | None:
    """The batch of an interrupted export of the same request, so a plain re-run resumes it (not with --fresh)."""
    if args.fresh:
        return None
    from healthcare_assets.defs.extraction import BulkConfig, build_bulk_source
    from healthcare_assets.fhir.export_resume import find_unfinished

    try:
        source = build_bulk_source(BulkConfig(**config["bulk"]), paths.batches)
    except (ValueError, OSError):
        return None  # the run itself reports what is wrong with the options
    unfinished = find_unfinished(paths.batches, source.request)
    return unfinished[0].batch_id if unfinished else None


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
    from healthcare_assets.defs.instance import open_instance, prepare_dagster_home
    from healthcare_assets.defs.launcher import launch_training

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    run_config = {"ops": {op: {"config": cfg} for op, cfg in ops.items()}}
    with open_instance() as instance:
        result = launch_training(
            instance,
            printer=progress_printer(),
            run_config=run_config,
            verbose=args.verbose,
            models_only=True,
        )
    if not any(error.startswith("candidate_models") for error in result.errors):
        _print_model(paths)  # a training that failed before registering anything has no new model to show
    if not result.success or result.failed_checks:
        for problem in result.errors + [f"blocking check failed: {c}" for c in result.failed_checks]:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def _cmd_monitor(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from healthcare_assets.defs.instance import open_instance, prepare_dagster_home
    from healthcare_assets.defs.monitoring import cli_tick

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    with open_instance() as instance:
        keys, launches = cli_tick(
            instance,
            progress_printer(),
            launch=not args.dry_run,
            verbose=getattr(args, "verbose", False),
        )
    if launches and all(r.success and not r.failed_checks for r in launches):
        _print_model(paths)
    failed = [e for r in launches for e in r.errors + [f"blocking check failed: {c}" for c in r.failed_checks]]
    for problem in failed:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if failed or any(not r.success for r in launches) else 0


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
    from healthcare_assets.defs.instance import open_instance, prepare_dagster_home
    from healthcare_assets.defs.model_launcher import launch_promotion

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    prepare_dagster_home(paths)
    config = {"approver": args.approver, "reason": args.reason, "rollback": args.rollback}
    if args.version:
        config["version"] = args.version
    with open_instance() as instance:
        result = launch_promotion(instance, config, printer=progress_printer())
    if not result.success:
        for problem in result.errors:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0


def _bulk_config(args: argparse.Namespace) -> dict:
    """Only options the user gave; the asset's defaults (and environment variables) fill in the rest."""
    config: dict = {"level": args.level, "since": args.since, "key_env": args.key_env, "scope": args.scope}
    if args.fresh:
        config["fresh"] = True
    if args.no_capability_check:
        config["check_capabilities"] = False
    if args.partial_export != "warn":
        config["partial_export"] = args.partial_export
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


def _print_summary(summary: dict) -> None:
    """Lines, resources, quarantined and superseded counts of the batch, when the profile got that far."""
    if "lines" not in summary:
        return
    reasons = summary.get("quarantine_reasons") or {}
    detail = f" ({', '.join(f'{k} {v:,}' for k, v in sorted(reasons.items()))})" if reasons else ""
    rejected = summary.get("rejected_files") or 0
    print(
        f"\nSummary: {summary['lines']:,} lines, {summary.get('dagster/row_count', 0):,} resources accepted, "
        f"{summary.get('quarantined', 0):,} quarantined{detail}, "
        f"{summary.get('superseded_duplicates', 0):,} superseded copies of a repeated id"
        + (f"; {rejected} file(s) set aside whole (unknown type or damaged)" if rejected else "")
    )


def _print_where(paths: Paths, dagster_home: Path, batch_id: str, summary: dict | None = None) -> None:
    """Only what exists: a batch that failed before landing has no folder to point at."""
    rows = []
    batch_dir = paths.batch_dir(batch_id)
    if batch_dir.is_dir():
        rows.append(("PHI zone (0700)", str(batch_dir)))
        quarantine = batch_dir / "quarantine" / "quarantine.ndjson"
        if quarantine.exists() and (summary or {}).get("quarantined"):
            rows.append(("quarantined lines", f"{quarantine}   (PHI: stays in the PHI zone)"))
    if paths.warehouse.exists():
        rows.append(("warehouse (de-id zone)", str(paths.warehouse)))
    if (paths.audit / "ledger.jsonl").exists():
        rows.append(("audit ledger", f"{paths.audit}   (verify: healthcare-assets audit verify)"))
    rows.append(("Dagster instance", str(dagster_home)))
    print("\nWhere things are:")
    for label, where in rows:
        print(f"  {label:<22} {where}")
    print(
        f"""Open the UI (runs above are listed there):
  healthcare-assets ui                     # or: DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml
  then browse http://127.0.0.1:3000"""
    )


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from healthcare_assets.audit import AuditLedger, verify_ledger
    from healthcare_assets.audit.predictions import prediction_ledger, verify_predictions

    ledger = AuditLedger(Paths.from_env().audit)
    result = verify_ledger(ledger)
    print(f"{ledger.path}: {result.describe()}")
    if not result.ok:
        return 1
    predictions = prediction_ledger(Paths.from_env().audit)
    if not predictions.path.exists():
        return 0
    checked = verify_predictions(ledger, predictions)
    print(f"{predictions.path}: {checked.describe()}")
    return 0 if checked.ok else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from healthcare_assets.serving.server import ServeOptions, serve

    paths = Paths.from_env()
    options = ServeOptions(
        model=args.model,
        shadow=args.shadow,
        host=args.host,
        port=args.port,
        threshold=args.threshold,
        max_body_bytes=args.max_body_bytes,
        token=os.environ.get(args.token_env) or None,
    )
    return serve(paths, options, printer=progress_printer())


def _cmd_trace(args: argparse.Namespace) -> int:
    from healthcare_assets.audit.trace import TraceError, describe, trace_prediction

    try:
        trace = trace_prediction(Paths.from_env().audit, args.prediction_id)
    except TraceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in describe(trace):
        print(line)
    return 0


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


def _cmd_batches_list(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance

    from healthcare_assets.defs.batches import list_batches
    from healthcare_assets.defs.instance import prepare_dagster_home

    paths = Paths.from_env()
    prepare_dagster_home(paths)
    with DagsterInstance.get() as instance:
        batches = list_batches(instance, paths)
    if not batches:
        print(f"no export batches in {paths.home}")
        return 0
    header = ("batch", "last run", "landed", "lines", "quarantined", "superseded", "warehouse rows", "source")

    def show(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return f"{value:,}" if isinstance(value, int) else str(value)

    rows = [
        (
            b.batch_id + ("" if b.registered else " (no partition)") + (" (staging left)" if b.staging else ""),
            b.last_run or "never run",
            show(b.landed),
            show(b.lines),
            show(b.quarantined),
            show(b.superseded),
            show(b.warehouse_rows),
            b.source or "-",
        )
        for b in batches
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print("\nremove one: healthcare-assets batches delete BATCH")
    return 0


def _cmd_batches_delete(args: argparse.Namespace) -> int:
    warnings.filterwarnings("ignore")
    from dagster import DagsterInstance

    from healthcare_assets.defs.batches import delete_batch
    from healthcare_assets.defs.instance import prepare_dagster_home

    paths = Paths.from_env()
    prepare_dagster_home(paths)
    with DagsterInstance.get() as instance:
        report = delete_batch(instance, paths, args.batch_id)
    rows = sum(report.rows_deleted.values())
    tables = ", ".join(f"{t} {n:,}" for t, n in sorted(report.rows_deleted.items()) if n) or "none"
    print(f"deleted batch {report.batch_id}:")
    print(f"  partition      {'removed' if report.partition_removed else 'was not registered'}")
    print(f"  PHI zone       {', '.join(report.folders_removed) or 'no folder'} removed")
    print(f"  warehouse      {rows:,} rows deleted ({tables})")
    print(f"  audit ledger   delete_export_batch recorded ({report.audit_record[:16]})")
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
    """``dagster dev -w workspace.yaml`` on the shared instance, so the code location keeps the name the
    workspace gives it. Dagster 1.13 marks ``dagster dev`` as superseded by ``dg dev`` (the separate
    dagster-dg-cli package and a ``[tool.dg]`` project layout), which itself runs ``dagster dev`` with a
    generated workspace file; that one warning is silenced, nothing else."""
    from healthcare_assets.defs.instance import prepare_dagster_home
    from healthcare_assets.errors import ConfigError

    paths = Paths.from_env()
    os.environ[HOME_ENV] = str(paths.home)
    dagster_home = prepare_dagster_home(paths)
    workspace = _workspace_file(dagster_home)
    os.environ["PYTHONWARNINGS"] = ",".join(w for w in (os.environ.get("PYTHONWARNINGS"), SUPERSEDED_DEV_WARNING) if w)
    beside = Path(sys.executable).parent / "dagster"  # the same environment, activated or not
    executable = str(beside) if beside.exists() else shutil.which("dagster")
    if executable is None:
        raise ConfigError("the dagster command is not installed in this environment (bash deploy/quickstart.sh)")
    command = ["dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(args.port)]
    print(f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {' '.join(command)}", flush=True)
    os.execv(executable, command)
    return 0  # not reached


# The exact warning `dagster dev` prints (message start and category, for PYTHONWARNINGS).
SUPERSEDED_DEV_WARNING = "ignore:Function `dev_command` is superseded:FutureWarning"
WORKSPACE_FILE = "workspace.yaml"


def _workspace_file(dagster_home: Path) -> Path:
    """The repository's workspace.yaml when running from a checkout; else the same content, written once into
    ``$DAGSTER_HOME`` (an installed package has no checkout beside it)."""
    checkout = Path(__file__).resolve().parents[1] / WORKSPACE_FILE
    if checkout.exists():
        return checkout
    generated = dagster_home / WORKSPACE_FILE
    if not generated.exists():
        generated.write_text(
            "load_from:\n  - python_module:\n      module_name: healthcare_assets.definitions\n"
            "      attribute: defs\n      location_name: healthcare_assets\n"
        )
    return generated


def console() -> None:
    """The ``healthcare-assets`` command: ``main``, then exit without a last garbage collection.

    A run imports the model-side libraries in its steps, after the CLI froze its own imports (``gc_tuning``), and
    Python's final collection at exit then scans them all: about 0.3 s of a Synthea-sample run, after its last
    line. Freezing before exit skips that scan (objects are still released; only the cycle search is skipped).
    Not in ``main``, which tests call in their own long-lived process."""
    code = main()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    console()
