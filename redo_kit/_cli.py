"""The ``redo-kit`` command.

    redo-kit import FILE [--rejects PATH] [--restart]       backfill a JSONL or CSV file
    redo-kit send --event-name NAME --email ADDRESS ...      send one event
    redo-kit validate FILE [--rejects PATH] [--plan PLAN]    check a file, no network
    redo-kit convert --from klaviyo FILE [--out PATH]        Klaviyo payloads as Redo JSON Lines
    redo-kit emulator [--port 0] [--store ID=KEY] [--faults SPEC]
    redo-kit generate --out DIR --package NAME [--spec PATH | --plan PLAN] [--check]
    redo-kit spec diff OLD NEW | path | show                 what a new spec breaks
    redo-kit plan infer FILE | diff OLD NEW | check PLAN     tracking plans
    redo-kit outbox status|drain PATH                        a batcher's SQLite outbox
    redo-kit relay --redis URL --store ID=KEY ...            deliver a fleet's Redis outbox
    redo-kit --version

With no API key configured (``--api-key`` or ``REDO_API_KEY``), ``import`` and
``send`` start an embedded emulator whose SQLite file lives under ``.redo-kit/``
(or ``REDO_KIT_HOME``) and say plainly that nothing went to Redo.

Every command has ``--help`` with examples. Exit codes: 0 success, 1 the work
found problems (stale models, rejected events, payloads that could not be
converted), 2 usage or configuration error
(for ``import`` also: the input changed under its checkpoint, or another run of
it holds its lock), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import orjson

from redo_kit._errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from redo_kit._version import __version__

if TYPE_CHECKING:
    from redo_kit._client import RedoClient
    from redo_kit._csv_input import CsvInput
    from redo_kit._importer import (
        Checkpoint,
        HashedInput,
        ImportProgress,
        ImportResult,
        LineRejection,
        LineSource,
        Position,
        Reader,
    )
    from redo_kit._plan import TrackingPlan
    from redo_kit.emulator import Emulator
    from redo_kit.klaviyo import KlaviyoOptions

__all__ = ["main"]

_Command = Callable[[argparse.Namespace], int]


def _generate(args: argparse.Namespace) -> int:
    from redo_kit import _codegen as codegen

    package = codegen.check_package_name(args.package)
    if args.plan is not None:
        from redo_kit._codegen.plan import render_plan
        from redo_kit._plan import TrackingPlan

        if args.spec:
            raise ConfigurationError("give --plan or --spec, not both")
        spec = Path(args.plan)
        plan = TrackingPlan.load(spec)
        files = render_plan(plan, package=package, label=spec.name)
    else:
        spec = Path(args.spec) if args.spec else codegen.spec_path()
        files = codegen.render(spec, package=package, command="redo-kit generate")
    out = Path(args.out) / package
    if args.check:
        stale = codegen.check(out, files)
        for diff in stale:
            print(diff, file=sys.stderr)
        print(f"{out}: {'stale' if stale else 'in step with ' + str(spec)}")
        return 1 if stale else 0
    for path in codegen.write(out, files):
        print(f"wrote {path}")
    return 0


def _add_generate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generate",
        help="generate attrs models from the Redo events spec (or another spec)",
        description="Write attrs models for an OpenAPI spec into DIR/PACKAGE, with the same "
        "pinned generator and template redo-kit uses for itself.",
        epilog="The package ships the spec it was generated from (openapi.json): redo-kit "
        "checks the package's events against it.\n\n"
        "examples:\n"
        "  redo-kit generate --out src --package shop_events   # src/shop_events/\n"
        "  redo-kit generate --out src --package shop_events --spec their-spec.yaml\n"
        "  redo-kit generate --out src --package shop_events --check  # exit 1 if stale\n"
        "  redo-kit generate --plan plan.yaml --out src --package shop_events  # typed events\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="directory that receives the package")
    parser.add_argument("--spec", help="OpenAPI file (default: the spec shipped with redo-kit)")
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        help="a tracking plan: write one typed class per planned event instead of spec models",
    )
    parser.add_argument(
        "--package",
        required=True,
        help="package name to write, such as shop_events (never redo_kit_models, redo-kit's own)",
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.set_defaults(handler=_generate)


# -- plan: infer, diff, check --------------------------------------------------


def _plan_infer(args: argparse.Namespace) -> int:
    from redo_kit._plan_tools import infer_plan

    source, _, _ = _open_input(args.file)
    try:
        inference = infer_plan(
            source,
            label="stdin" if args.file == "-" else Path(args.file).name,
            enum_max=args.enum_max,
            enum_min_events=args.enum_min_events,
        )
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    text = inference.to_yaml()
    if args.out is None:
        sys.stdout.write(text)
    else:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot write the plan {args.out}: {exc}") from exc
        names = len(inference.events)
        print(f"wrote {args.out}: {names:,} event{'' if names == 1 else 's'}", file=sys.stderr)
    if not inference.events:
        print("redo-kit: no event Redo would store was read: the plan names none", file=sys.stderr)
        return 1
    return 0


def _plan_diff(args: argparse.Namespace) -> int:
    from redo_kit._plan import TrackingPlan
    from redo_kit._plan_tools import diff_report, diff_text

    report = diff_report(TrackingPlan.load(args.old), TrackingPlan.load(args.new))
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(diff_text(report))
    return 1 if report["breaking"] else 0


def _plan_check(args: argparse.Namespace) -> int:
    from redo_kit._plan import TrackingPlan
    from redo_kit._plan_tools import plan_summary

    print(plan_summary(TrackingPlan.load(args.plan)))
    return 0


def _add_plan(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from redo_kit._plan_tools import ENUM_MAX_VALUES, ENUM_MIN_EVENTS

    parser = commands.add_parser(
        "plan",
        help="tracking plans: infer one from sent events, diff two versions, check one",
        description="Start a tracking plan from the events a shop already sends, and see "
        "what a new version of it breaks.",
        epilog="examples:\n"
        "  redo-kit plan infer history.jsonl > plan.yaml\n"
        "  redo-kit plan infer history.jsonl.gz --out plan.yaml\n"
        "  redo-kit plan diff plan-1.2.0.yaml plan.yaml          # exit 1 if it breaks\n"
        "  redo-kit plan diff old.yaml new.yaml --format json\n"
        "  redo-kit plan check plan.yaml\n"
        "exit codes: 0 fine, 1 breaking changes (diff) or no event read (infer), "
        "2 an unusable plan or input\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    infer = actions.add_parser(
        "infer",
        help="write the plan that a file of wire events follows",
        description="Read JSON Lines of wire events (gzip too) and write a closed plan, version "
        "0.1.0: per event name, each property's type as Redo indexes it, required when every "
        "event carried it, enums for strings with few values, counts as comments. Events Redo "
        "refuses are left out.",
    )
    infer.add_argument("file", help="JSON Lines of wire events, gzip-compressed too; - for stdin")
    infer.add_argument("--out", metavar="PATH", help="write the plan here (default: stdout)")
    infer.add_argument(
        "--enum-max",
        type=int,
        default=ENUM_MAX_VALUES,
        metavar="N",
        help=f"most distinct values of a string property that get an enum "
        f"(default {ENUM_MAX_VALUES})",
    )
    infer.add_argument(
        "--enum-min-events",
        type=int,
        default=ENUM_MIN_EVENTS,
        metavar="N",
        help=f"fewest events carrying the property for an enum (default {ENUM_MIN_EVENTS})",
    )
    infer.set_defaults(handler=_plan_infer)
    diff = actions.add_parser(
        "diff",
        help="list the changes from one plan to another, breaking ones first",
        description="Breaking: an event that followed OLD may break NEW (an event or property "
        "removed, a type changed, a property newly required, an enum narrowed, a pattern added "
        "or changed, a range tightened, the plan closed, a uniqueId recipe changed). Exit 1 "
        "when something breaks.",
    )
    diff.add_argument("old", help="the plan as it was")
    diff.add_argument("new", help="the plan as proposed")
    diff.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default) or one JSON object: old, new, breaking, safe, versionAdvice",
    )
    diff.set_defaults(handler=_plan_diff)
    check = actions.add_parser("check", help="check a plan file and print a one-line summary")
    check.add_argument("plan", help="the plan file (YAML or JSON)")
    check.set_defaults(handler=_plan_check)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _add_emulator(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from redo_kit.emulator import _cli as emulator_cli

    parser = commands.add_parser(
        "emulator",
        help="run a local Redo Events API (SQLite, fault injection) on loopback",
        description="Serve both operations of the spec under /v2.2, with the inspection "
        "API under /_emulator. The first line printed is 'listening on URL'.",
        epilog="examples:\n"
        "  redo-kit emulator --port 8080\n"
        "  redo-kit emulator --store 64e5a8a1af49a89df37e4ee7=sk_test_1 --db events.db\n"
        "  redo-kit emulator --faults 503=0.1,429=0.05,reset=0.05,lost-ack=0.05 --seed 7\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emulator_cli.configure_parser(parser)
    parser.set_defaults(handler=emulator_cli.run)


# -- spec: the shipped spec, and what a new spec breaks ------------------------


def _spec_diff(args: argparse.Namespace) -> int:
    from redo_kit._spec_diff import load_spec, spec_diff

    diff = spec_diff(load_spec(args.old), load_spec(args.new))
    if args.format == "json":
        print(orjson.dumps({"old": args.old, "new": args.new, **diff.to_dict()}).decode())
        return 1 if diff.is_breaking else 0
    for change in diff.changes:
        label = "BREAKING" if change.breaking else "ok"
        print(f"{label:<8}  {change.kind}  {change.location}\n          {change.message}")
    broken = len(diff.breaking)
    verdict = "breaks clients generated from" if broken else "is compatible with"
    print(
        f"{args.new} {verdict} {args.old}: {broken} breaking, "
        f"{len(diff.changes) - broken} non-breaking change(s)"
    )
    return 1 if broken else 0


def _spec_path(args: argparse.Namespace) -> int:
    from redo_kit._codegen import spec_path

    print(spec_path())
    return 0


def _spec_show(args: argparse.Namespace) -> int:
    import hashlib

    from redo_kit._codegen import spec_path
    from redo_kit._spec_diff import SHIPPED, load_spec

    path = spec_path()
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the shipped spec {path}: {exc.strerror}") from exc
    info = load_spec(SHIPPED).get("info", {})
    print(f"title    {info.get('title')}")
    print(f"version  {info.get('version')}")
    print(f"sha256   {digest}")
    print(f"path     {path}")
    return 0


def _add_spec(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "spec",
        help="the shipped OpenAPI spec, and whether a new spec breaks clients generated from it",
        description="diff compares two OpenAPI 3.1 specs (YAML or JSON; 'shipped' is the "
        "spec installed with redo-kit) and lists each change with a JSON pointer, a stable "
        "kind and whether it breaks a client generated from OLD or the payloads it sends. "
        "Exit codes: 0 nothing breaks, 1 something breaks, 2 a spec cannot be read. "
        "path prints where the shipped spec is; show prints its title, version and sha256.",
        epilog="examples:\n"
        "  redo-kit spec diff shipped new-spec.yaml\n"
        "  redo-kit spec diff old.yaml new.yaml --format json\n"
        "  redo-kit spec path\n"
        "  redo-kit spec show\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    diff = actions.add_parser("diff", help="list the changes from OLD to NEW; exit 1 if any breaks")
    diff.add_argument("old", metavar="OLD", help="the spec clients were generated from, or shipped")
    diff.add_argument("new", metavar="NEW", help="the new spec, or shipped")
    diff.add_argument(
        "--format", choices=("text", "json"), default="text", help="output (default: text)"
    )
    diff.set_defaults(handler=_spec_diff)
    path = actions.add_parser("path", help="print the path of the shipped spec")
    path.set_defaults(handler=_spec_path)
    show = actions.add_parser("show", help="print the shipped spec's title, version, sha256, path")
    show.set_defaults(handler=_spec_show)
    parser.set_defaults(handler=lambda args: _usage(parser))


# -- where events go: Redo, or the embedded emulator --------------------------


def _data_dir() -> Path:
    return Path(os.environ.get("REDO_KIT_HOME") or ".redo-kit")


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    from redo_kit._client import NOT_GIVEN
    from redo_kit._rules import limits

    group = parser.add_argument_group(
        "where events go",
        "Without an API key, events go to an embedded emulator, never to Redo.",
    )
    group.add_argument("--api-key", help="store API key (default: $REDO_API_KEY)")
    group.add_argument("--store-id", help="Redo store id (default: $REDO_STORE_ID)")
    group.add_argument(
        "--base-url", help="API base URL with version (default: $REDO_BASE_URL, else Redo's)"
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        default=NOT_GIVEN,
        help="requests per second per endpoint for the store "
        f"(default: {limits().rate_limit:g}, the API's limit in the spec)",
    )


@contextlib.contextmanager
def _target(args: argparse.Namespace, out: IO[str]) -> Iterator[tuple[RedoClient, Emulator | None]]:
    """A client for Redo when a key is configured, else for a fresh embedded emulator."""
    from redo_kit._client import RedoClient

    api_key = args.api_key or os.environ.get("REDO_API_KEY")
    if api_key:
        with RedoClient(
            api_key=api_key,
            store_id=args.store_id or os.environ.get("REDO_STORE_ID") or _missing_store(),
            base_url=args.base_url or os.environ.get("REDO_BASE_URL") or _default_base_url(),
            rate_limit=args.rate_limit,
        ) as client:
            print(f"sending to {client.base_url} (store {client.store_id})", file=out)
            yield client, None
        return

    from redo_kit.emulator import Emulator

    data = _data_dir()
    data.mkdir(parents=True, exist_ok=True)
    db = data / "emulator.sqlite3"
    with Emulator(db=db, rate_limit=args.rate_limit) as emulator:
        print(
            f"No API key configured (--api-key or REDO_API_KEY): using the embedded emulator.\n"
            f"Nothing is sent to Redo. Emulator data: {db}",
            file=out,
        )
        with RedoClient(
            api_key=emulator.api_key,
            store_id=emulator.store_id,
            base_url=emulator.base_url,
            rate_limit=args.rate_limit,
        ) as client:
            yield client, emulator


def _missing_store() -> str:
    raise ConfigurationError(
        "an API key was given but no store: pass --store-id or set REDO_STORE_ID"
    )


def _default_base_url() -> str:
    from redo_kit._client import DEFAULT_BASE_URL

    return DEFAULT_BASE_URL


def _print_stored(emulator: Emulator, out: IO[str], top: int = 8) -> None:
    summary = emulator.summary(top=top)
    stats = emulator.stats()
    print(
        f"The embedded emulator now holds {summary['events']:,} events for "
        f"{summary['customers']:,} customers (this run: {stats['stored']:,} stored, "
        f"{stats['deduplicated']:,} already there and deduplicated by uniqueId).",
        file=out,
    )
    if summary["properties"]:
        print("Top event properties, with the type Redo indexes them as:", file=out)
        for item in summary["properties"]:
            print(f"  {item['key']:<24} {item['type']:<8} in {item['events']:,} events", file=out)
    print(
        "Nothing was sent to Redo. Set REDO_API_KEY and REDO_STORE_ID to send for real.", file=out
    )


# -- import and validate -----------------------------------------------------


def _open_input(name: str) -> tuple[IO[bytes], Path | None, int | None]:
    """The input, its path, and its size when progress can be measured against it."""
    import gzip

    from redo_kit._importer import GZIP_MAGIC

    if name == "-":
        return sys.stdin.buffer, None, None
    path = Path(name)
    if not path.is_file():
        raise ConfigurationError(f"no such file: {name}")
    with path.open("rb") as fh:
        compressed = fh.read(2) == GZIP_MAGIC
    if compressed:
        # Read decompressed; the decompressed size is unknown until the end.
        # GzipFile reads like any binary file; typeshed does not call it IO[bytes].
        return cast("IO[bytes]", gzip.open(path, "rb")), path, None
    return path.open("rb"), path, path.stat().st_size


def _measured(
    report: Callable[[ImportProgress], None], source: IO[bytes], path: Path | None
) -> Callable[[ImportProgress], None]:
    """``report``, with a gzip input's progress measured in its compressed bytes.

    Its decompressed size is unknown until the end, but how far into the file
    the reading is, and so a share and an ETA, is known.
    """
    import gzip

    import attrs

    if path is None or not isinstance(source, gzip.GzipFile) or source.fileobj is None:
        return report
    raw, size = source.fileobj, path.stat().st_size

    def measured(progress: ImportProgress) -> None:
        report(attrs.evolve(progress, bytes_read=raw.tell(), total_bytes=size))

    return measured


class _RejectsReport:
    """Writes rejected lines as JSONL (``--rejects``) and keeps the first few for the summary."""

    shown = 10

    def __init__(self, path: str | None, keep_lines: int | None) -> None:
        self.first: list[LineRejection] = []
        self.count = 0
        self._file: IO[bytes] | None = None
        if path is None:
            return
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Resuming keeps the lines written up to the checkpoint, and drops the rest.
            kept = (
                target.read_bytes().splitlines(keepends=True)[:keep_lines]
                if keep_lines is not None and target.exists()
                else []
            )
            self._file = target.open("wb")
        except OSError as exc:
            raise ConfigurationError(f"cannot write the rejects report {path}: {exc}") from exc
        self._file.writelines(kept)

    def __call__(self, rejection: LineRejection) -> None:
        self.count += 1
        if len(self.first) < self.shown:
            self.first.append(rejection)
        if self._file is not None:
            self._file.write(orjson.dumps(rejection.to_dict()) + b"\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _add_plan_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        metavar="PLAN",
        type=_load_plan,
        help="a tracking plan (YAML or JSON) every event must also follow",
    )


def _load_plan(path: str) -> TrackingPlan:
    from redo_kit._plan import TrackingPlan

    try:
        return TrackingPlan.load(path)
    except ConfigurationError as exc:
        # argparse shows the text of this error type as it is, with the option's name.
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_input_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        help="JSON Lines of wire events, or CSV; gzip-compressed too; - for stdin",
    )
    parser.add_argument("--rejects", metavar="PATH", help="write every rejected line here (JSONL)")
    parser.add_argument(
        "--no-content-ids",
        dest="content_ids",
        action="store_false",
        help="do not derive a uniqueId from the content of events that have none",
    )
    parser.add_argument(
        "--allow-unknown-keys",
        action="store_true",
        help="send events with unknown top-level keys (the API ignores them) instead of rejecting",
    )
    parser.add_argument(
        "--default-region",
        metavar="CC",
        help="read national phone numbers in this region (ISO 3166-1, e.g. US)",
    )
    _add_plan_option(parser)
    _add_klaviyo_options(parser)
    table = parser.add_argument_group(
        "CSV input",
        "A row is an event. A header that is a wire path puts its cells there (eventName, "
        "value, customer.email, customer.location.city, customer.customFields.KEY, "
        "data.KEY, data.$extra.KEY); any other header becomes a data property. Cells take "
        "the spec's type (value is a number, names stay text); data and custom fields read "
        "JSON numbers, true and false as such and the rest as text, cell by cell, so give a "
        "column that must keep one type a TYPE (postal codes: 'Zip=data.Zip:string'). "
        "Empty cells are left out.",
    )
    table.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="the input's format (default: csv for .csv and .tsv files, else jsonl)",
    )
    table.add_argument(
        "--column",
        metavar="HEADER=PATH[:TYPE]",
        action="append",
        default=[],
        help="put a column's cells at PATH (TYPE: string, number or boolean); "
        "'HEADER=' leaves the column out",
    )
    table.add_argument(
        "--event-name",
        metavar="NAME",
        help="the eventName of rows without one, e.g. 'Order Placed'",
    )
    table.add_argument(
        "--delimiter",
        metavar="CHAR",
        help="the cell separator (default: ',', or a tab for .tsv files)",
    )


def _add_klaviyo_options(parser: argparse.ArgumentParser, *, source: bool = True) -> None:
    group = parser.add_argument_group(
        "Klaviyo input",
        "--from klaviyo reads one Klaviyo payload per line: a Track body, a Create Event "
        "body or a Bulk Create Events job (one Redo event per Klaviyo event), and reports "
        "the fate of every field. --default-region reads national phone numbers.",
    )
    if source:
        group.add_argument(
            "--from",
            dest="source_format",
            choices=("redo", "klaviyo"),
            default="redo",
            help="what each line holds (default: redo, a wire event)",
        )
    group.add_argument(
        "--klaviyo-unique-ids",
        choices=("none", "klaviyo"),
        default="none",
        help="events without $event_id/unique_id: none (default), or klaviyo: a key from "
        "metric, profile and the second of time, as Klaviyo deduplicates",
    )
    group.add_argument(
        "--klaviyo-only",
        choices=("drop", "extra"),
        default="drop",
        help="fields only Klaviyo has (token, profile id, $image, $consent, ip): drop "
        "(default) or keep under data.$extra.$klaviyo",
    )
    group.add_argument(
        "--external-id-field",
        metavar="NAME",
        default="Klaviyo External Id",
        help="the custom field that keeps $id / external_id (default: 'Klaviyo External Id')",
    )
    group.add_argument(
        "--drop-external-id",
        action="store_true",
        help="leave $id / external_id out instead",
    )
    group.add_argument(
        "--keep-ignored",
        action="store_true",
        help='keep top-level 0, null and "" properties under data.$extra (Redo drops them)',
    )
    group.add_argument(
        "--fates",
        metavar="PATH",
        help="write the fate of every Klaviyo field here, one JSON object per Klaviyo event",
    )


def _klaviyo_options(args: argparse.Namespace) -> KlaviyoOptions:
    from redo_kit.klaviyo import KlaviyoOptions

    return KlaviyoOptions(
        unique_ids=args.klaviyo_unique_ids,
        klaviyo_only=args.klaviyo_only,
        external_id_field=None if args.drop_external_id else args.external_id_field,
        keep_ignored=args.keep_ignored,
        default_region=args.default_region,
    )


def _print_fates(reader: Reader, out: IO[str]) -> None:
    """The count of each fate a Klaviyo input's fields met (nothing for other inputs)."""
    from redo_kit.klaviyo import MEANINGS, KlaviyoReader

    if not isinstance(reader, KlaviyoReader):
        return
    print(f"Klaviyo fields of {reader.events:,} events, by fate:", file=out)
    for rule, count in sorted(reader.fates.items(), key=lambda item: (-item[1], item[0])):
        meaning = MEANINGS.get(rule, "problems under Redo's rules (see each above)")
        print(f"  {rule:<28} {count:>9,}  {meaning}".rstrip(), file=out)


def _reader(
    args: argparse.Namespace, source: LineSource, path: Path | None
) -> tuple[Reader, CsvInput | None]:
    """How to read the input: JSON Lines, or CSV with its header checked against the mapping."""
    from redo_kit._csv_input import CsvInput
    from redo_kit._importer import read_jsonl

    if args.source_format == "klaviyo":
        from redo_kit.klaviyo import KlaviyoReader

        if args.format == "csv" or args.column or args.event_name or args.delimiter:
            raise ConfigurationError("--from klaviyo reads JSON Lines: leave out the CSV options")
        return KlaviyoReader(_klaviyo_options(args), fates_path=args.fates), None
    if (
        args.klaviyo_unique_ids != "none"
        or args.klaviyo_only != "drop"
        or args.drop_external_id
        or args.keep_ignored
        or args.external_id_field != "Klaviyo External Id"
        or args.fates
    ):
        raise ConfigurationError(
            "--klaviyo-unique-ids, --klaviyo-only, --external-id-field, --drop-external-id, "
            "--keep-ignored and --fates apply to Klaviyo input: pass --from klaviyo"
        )

    suffixes = [s.lower() for s in path.suffixes] if path is not None else []
    if suffixes[-1:] == [".gz"]:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    csv_options = args.column or args.event_name or args.delimiter
    fmt = args.format or ("csv" if suffix in (".csv", ".tsv") else "jsonl")
    if fmt == "jsonl":
        if csv_options:
            raise ConfigurationError(
                "--column, --event-name and --delimiter apply to CSV input: "
                "pass --format csv, or name the file *.csv"
            )
        return read_jsonl, None
    pairs = _pairs(args.column, "--column", "HEADER=PATH[:TYPE]")
    columns = {header.strip(): path for header, path in pairs.items()}
    delimiter = args.delimiter or ("\t" if suffix == ".tsv" else ",")
    if delimiter == "\\t":  # a real tab is awkward to type in a shell
        delimiter = "\t"
    if len(delimiter) != 1:
        raise ConfigurationError(f"--delimiter takes one character, not {delimiter!r}")
    table = CsvInput.open(source, columns=columns, event_name=args.event_name, delimiter=delimiter)
    return table.read, table


def _print_mixed_types(table: CsvInput | None, out: IO[str]) -> None:
    for warning in table.mixed_types() if table is not None else ():
        print(f"Warning: {warning}.", file=out)


def _print_rejections(report: _RejectsReport, rejects_path: str | None, out: IO[str]) -> None:
    if not report.count:
        return
    print(f"{report.count:,} lines rejected:", file=out)
    for rejection in report.first:
        errors = [p for p in rejection.problems if p.severity == "error"]
        print(f"  line {rejection.line}: {errors[0] if errors else 'invalid'}", file=out)
        for problem in errors[1:3]:
            print(f"           {problem}", file=out)
    if report.count > len(report.first):
        print(f"  ... and {report.count - len(report.first):,} more", file=out)
    if rejects_path:
        print(f"Every rejected line, with every problem: {rejects_path}", file=out)
    else:
        print("Pass --rejects PATH to write every rejected line with every problem.", file=out)


def _import(args: argparse.Namespace) -> int:
    from redo_kit._importer import Checkpoint, HashedInput

    source, path, size = _open_input(args.file)
    try:
        if path is None or args.no_checkpoint:
            # Without a checkpoint, nothing needs the hash of what was read.
            unhashed = HashedInput(source, hashing=False)
            return _import_from(args, source, unhashed, path, size, None)
        checkpoint = Checkpoint.beside(path, Path(args.state) if args.state else None)
        # One run per input: a second would race the first for the checkpoint.
        with checkpoint.lock():
            return _import_from(args, source, HashedInput(source), path, size, checkpoint)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _resume(
    hashed: HashedInput, path: Path, checkpoint: Checkpoint, restart: bool, out: IO[str]
) -> tuple[Position | None, int]:
    """Where to start: after the checkpoint when the input still holds the bytes it skips."""
    if restart:
        checkpoint.clear()
        return None, 0
    saved = checkpoint.load()
    if saved is None:
        return None, 0
    start, rejected_before = saved
    if not start.sha256:
        raise ConfigurationError(
            f"the checkpoint of {path} ({checkpoint.path}) holds no hash of the bytes it skips "
            "(an older redo-kit wrote it), so it cannot show that the input is unchanged. "
            "Start over with --restart (events already delivered are deduplicated by uniqueId)"
        )
    # Read and hash the bytes the checkpoint skips: resuming is safe only if
    # they are the bytes it was written after.
    if not hashed.skip_to(start):
        raise ConfigurationError(
            f"{path} changed since its checkpoint ({checkpoint.path}) was written: its first "
            f"{start.offset:,} bytes are not the ones read up to line {start.line:,}, so "
            "resuming could skip lines never sent. Start over with --restart (it replaces "
            "the checkpoint; events already delivered are deduplicated by uniqueId)"
        )
    print(f"resuming {path} after line {start.line:,} ({checkpoint.path})", file=out)
    return start, rejected_before


def _import_from(
    args: argparse.Namespace,
    source: IO[bytes],
    hashed: HashedInput,
    path: Path | None,
    size: int | None,
    checkpoint: Checkpoint | None,
) -> int:
    from redo_kit._importer import import_events
    from redo_kit._progress import ProgressPrinter, format_duration

    out = sys.stdout
    reader, table = _reader(args, hashed, path)
    start, rejected_before = None, 0
    if checkpoint is not None and path is not None:
        start, rejected_before = _resume(hashed, path, checkpoint, args.restart, out)
    report = _RejectsReport(args.rejects, rejected_before if start else None)
    printer = ProgressPrinter(sys.stderr, every=args.progress_every)
    try:
        with _target(args, out) as (client, emulator):
            result = import_events(
                hashed,
                client,
                start=start,
                total_bytes=size,
                content_ids=args.content_ids,
                allow_unknown_keys=args.allow_unknown_keys,
                default_region=args.default_region,
                plan=args.plan,
                concurrency=args.concurrency,
                reader=reader,
                rejected_before=rejected_before,
                on_reject=report,
                on_progress=_measured(printer, source, path),
                on_watermark=checkpoint.save if checkpoint is not None else None,
            )
            printer.finish()
            _summarize_import(result, report, args.rejects, out, format_duration)
            _print_mixed_types(table, out)
            _print_fates(reader, out)
            if checkpoint is not None and result.complete:
                checkpoint.clear()
            if emulator is not None:
                _print_stored(emulator, out)
    finally:
        report.close()
    if result.interrupted:
        where = f" ({checkpoint.path})" if checkpoint is not None else ""
        print(f"Interrupted. Run the same command again to resume{where}.", file=out)
        return 130
    if result.error is not None:
        print(f"Stopped: {result.error}", file=sys.stderr)
        if isinstance(result.error, (AuthenticationError, PermissionDeniedError, NotFoundError)):
            return 2
        return 1
    if not result.complete:
        return 1
    if result.progress.rejected > args.max_rejects:  # earlier runs of a resumed import too
        return 1
    return 0


def _summarize_import(
    result: ImportResult,
    report: _RejectsReport,
    rejects_path: str | None,
    out: IO[str],
    format_duration: Callable[[float], str],
) -> None:
    progress = result.progress
    print(
        f"Read {progress.lines:,} lines in {format_duration(progress.elapsed)}: "
        f"{progress.delivered:,} events delivered ({progress.rate:,.0f} events/s), "
        f"{progress.rejected:,} lines rejected, {result.undelivered:,} not delivered; "
        f"{progress.requests:,} requests, {progress.retries:,} retries, "
        f"{progress.rate_limited:,} answered 429.",
        file=out,
    )
    _print_rejections(report, rejects_path, out)


def _validate(args: argparse.Namespace) -> int:
    from redo_kit._importer import import_events

    out = sys.stdout
    source, path, size = _open_input(args.file)
    try:
        report = _RejectsReport(args.rejects, None)
    except ConfigurationError:
        if source is not sys.stdin.buffer:
            source.close()
        raise
    try:
        reader, table = _reader(args, source, path)
        result = import_events(
            source,
            None,
            reader=reader,
            total_bytes=size,
            content_ids=args.content_ids,
            allow_unknown_keys=args.allow_unknown_keys,
            default_region=args.default_region,
            plan=args.plan,
            on_reject=report,
        )
    finally:
        report.close()
        if source is not sys.stdin.buffer:
            source.close()
    progress = result.progress
    print(
        f"{progress.lines:,} lines: {progress.valid:,} valid events, "
        f"{progress.rejected:,} rejected. Nothing was sent.",
        file=out,
    )
    _print_rejections(report, args.rejects, out)
    _print_mixed_types(table, out)
    _print_fates(reader, out)
    return 1 if report.count else 0


# -- convert -------------------------------------------------------------------


def _convert(args: argparse.Namespace) -> int:
    from redo_kit._importer import Position
    from redo_kit.klaviyo import KlaviyoReader, KlaviyoResult

    err = sys.stderr
    written = unconverted = 0
    with contextlib.ExitStack() as stack:
        source, _, _ = _open_input(args.file)
        if source is not sys.stdin.buffer:
            stack.callback(source.close)
        try:
            target = stack.enter_context(Path(args.out).open("wb")) if args.out else None
        except OSError as exc:
            raise ConfigurationError(f"cannot write the output: {exc}") from exc
        out = target or sys.stdout.buffer

        seen: set[int] = set()

        def reported(line: int, result: KlaviyoResult) -> None:
            seen.add(line)
            for conversion in result.conversions:
                for entry in (*conversion.report, *conversion.problems):
                    if entry.severity != "info":
                        print(f"line {line}: {entry}", file=err)

        reader = KlaviyoReader(_klaviyo_options(args), on_result=reported, fates_path=args.fates)
        for line, _, event, problems in reader(source, Position()):
            if event is not None:
                out.write(orjson.dumps(event) + b"\n")
                written += 1
            elif problems:
                unconverted += 1
                if line not in seen:
                    # Not JSON, or of no Klaviyo shape: no conversion reported it.
                    print(f"line {line}: {problems[0]}", file=err)
        out.flush()
    print(
        f"{written:,} Redo events written to {args.out or 'stdout'}; "
        f"{unconverted:,} could not be converted. Nothing was sent.",
        file=err,
    )
    _print_fates(reader, err)
    if args.fates:
        print(f"The fate of every field, event by event: {args.fates}", file=err)
    return 1 if unconverted else 0


def _add_convert(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "convert",
        help="convert Klaviyo payloads (Track, Create Event, bulk jobs) to Redo JSON Lines",
        description="Read one Klaviyo payload per line and write one Redo wire event per "
        "Klaviyo event, each checked by the same rules as 'validate'. The report goes to "
        "stderr: every field Redo keeps less of than Klaviyo did (moved under $extra, "
        "dropped, ignored values) and every problem, then a count of each fate. Nothing "
        "is sent. Exit codes: 0 every event converted, 1 some could not be, 2 usage or "
        "configuration error.",
        epilog="examples:\n"
        "  redo-kit convert --from klaviyo examples/klaviyo-track.jsonl > events.jsonl\n"
        "  redo-kit convert --from klaviyo export.jsonl --out events.jsonl --fates fates.jsonl\n"
        "  redo-kit import --from klaviyo export.jsonl            # convert and import at once\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from",
        dest="source_format",
        choices=("klaviyo",),
        required=True,
        help="the payloads' origin",
    )
    parser.add_argument("file", metavar="FILE", help="JSON Lines of Klaviyo payloads; - for stdin")
    parser.add_argument(
        "--out", metavar="PATH", help="write the Redo events here (default: stdout)"
    )
    parser.add_argument(
        "--default-region",
        metavar="CC",
        help="read national phone numbers in this region (ISO 3166-1, e.g. US)",
    )
    _add_klaviyo_options(parser, source=False)
    parser.set_defaults(handler=_convert)


# -- send ----------------------------------------------------------------------


def _pairs(items: Sequence[str] | None, flag: str, form: str = "KEY=VALUE") -> dict[str, str]:
    """``KEY=VALUE`` flags as a dict (the value may be empty; the last of a key wins)."""
    found: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{flag} takes {form}, got {item!r}")
        found[key] = value
    return found


def _scalars(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    from redo_kit._csv_input import scalar

    return {key: scalar(value) for key, value in _pairs(items, flag).items()}


def _event_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from redo_kit._json import loads_exact

    if args.json is not None:
        text = sys.stdin.read() if args.json == "-" else args.json
        try:
            given = loads_exact(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"--json is not valid JSON: {exc}") from exc
        if not isinstance(given, dict):
            raise ConfigurationError("--json must be one JSON object (a wire event)")
        return given
    if not args.event_name:
        raise ConfigurationError("give --event-name (and an identifier), or --json")
    customer: dict[str, Any] = {}
    for key, value in (
        ("id", args.customer_id),
        ("email", args.email),
        ("phoneNumber", args.phone),
    ):
        if value:
            customer[key] = value
    event: dict[str, Any] = {"eventName": args.event_name, "customer": customer}
    for key, value in (
        ("eventTimestamp", args.timestamp),
        ("value", args.value),
        ("valueCurrency", args.currency),
        ("uniqueId", args.unique_id),
    ):
        if value is not None:
            event[key] = value
    data = _scalars(args.data, "--data")
    extra = _scalars(args.extra, "--extra")
    if extra:
        data["$extra"] = extra
    if data:
        event["data"] = data
    return event


def _send(args: argparse.Namespace) -> int:
    from redo_kit._events import PrepareOptions, prepare_event

    out = sys.stdout
    event = _event_from_args(args)
    try:
        options = PrepareOptions(
            allow_unknown_keys=args.allow_unknown_keys,
            default_region=args.default_region,
            plan=args.plan,
        )
        prepared = prepare_event(event, options=options)
    except ValidationError as exc:
        print(f"Not sent. {exc}", file=sys.stderr)
        return 1
    for warning in prepared.warnings:
        print(f"warning: {warning}", file=out)
    with _target(args, out) as (client, emulator):
        try:
            result = client.send(prepared)
        except APIStatusError as exc:
            print(f"Not delivered: {exc}", file=sys.stderr)
            return 2 if exc.status in (401, 403, 404) else 1
        except APIError as exc:
            print(f"Not delivered: {exc}", file=sys.stderr)
            return 1
        print(
            f"Delivered {prepared.event_name!r} with uniqueId {result.unique_id} "
            f"({result.requests} request{'s' if result.requests != 1 else ''}).",
            file=out,
        )
        if emulator is not None:
            _print_stored(emulator, out)
    return 0


def _add_import(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "import",
        help="backfill a JSON Lines or CSV file of events (to Redo, or the embedded emulator)",
        description="Read one wire event per line (or one per CSV row), check each against the "
        "spec, and send the "
        "valid ones in bulk requests of up to 100 at the store's rate limit. Rejected lines are "
        "reported with every problem and never stop the run.\n\n"
        "Re-running is safe: events without a uniqueId get one derived from their content, so "
        "the API stores nothing twice (--no-content-ids turns that off). A checkpoint beside "
        "the input (or under --state) lets a stopped run, even by kill -9, resume where it "
        "stopped; it holds the sha256 of the bytes it skips, and an input changed before it "
        "is refused (exit 2) until --restart. It is removed when the run completes. One run "
        "per input at a time: a second exits 2 naming the first. A line longer than the "
        "largest event (plus 64 KiB of whitespace) is rejected as line-too-long.\n\n"
        "Exit codes: 0 all delivered, 1 some lines rejected (more than --max-rejects) or not "
        "delivered, 2 usage or configuration error, input changed since its checkpoint, or "
        "another run of the input in progress; 130 interrupted.",
        epilog="examples:\n"
        "  redo-kit import examples/events.jsonl                 # embedded emulator\n"
        "  redo-kit import history.jsonl --rejects rejects.jsonl\n"
        "  REDO_API_KEY=... REDO_STORE_ID=... redo-kit import history.jsonl\n"
        "  redo-kit import history.jsonl.gz                      # read as is; resumable\n"
        "  zstdcat history.jsonl.zst | redo-kit import -         # stdin: no checkpoint\n"
        "  redo-kit import orders.csv --event-name 'Order Placed' \\\n"
        "      --column Email=customer.email --column Total=value --column Notes=\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(parser)
    parser.add_argument("--state", metavar="DIR", help="keep the checkpoint here instead")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="start from line 1, ignoring and replacing the checkpoint (needed when the "
        "input changed since it was written)",
    )
    parser.add_argument(
        "--max-rejects",
        type=int,
        default=0,
        metavar="N",
        help="exit 0 when at most N lines were rejected and the rest delivered (default: 0)",
    )
    parser.add_argument("--no-checkpoint", action="store_true", help="keep no checkpoint")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="bulk requests in flight (default: 8)"
    )
    parser.add_argument(
        "--progress-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines when not on a terminal (default: 5)",
    )
    _add_target_options(parser)
    parser.set_defaults(handler=_import)


def _add_validate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "validate",
        help="check a JSON Lines or CSV file against the spec, without sending anything",
        description="The same checks and report as 'import', with no network. "
        "Exit code 1 when any line is rejected.",
        epilog="examples:\n"
        "  redo-kit validate examples/events.jsonl\n"
        "  redo-kit validate history.jsonl --rejects rejects.jsonl\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(parser)
    parser.set_defaults(handler=_validate)


def _add_send(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "send",
        help="send one event, from flags or JSON",
        description="Build one event from flags (or take a wire event with --json), check it, "
        "and send it through the single-event endpoint. --data and --extra values are read as "
        "JSON scalars when they parse (59.99, true) and as strings otherwise.",
        epilog="examples:\n"
        '  redo-kit send --event-name "Order Placed" --email stewart@example.com \\\n'
        '      --data "Order Total=59.99" --value 59.99 --currency USD --unique-id order-789\n'
        '  redo-kit send --json \'{"eventName": "Page Viewed", '
        '"customer": {"email": "a@example.com"}}\'\n',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", metavar="EVENT", help="a wire event as JSON; - reads stdin")
    parser.add_argument("--event-name", help="eventName, e.g. 'Order Placed'")
    parser.add_argument("--email", help="customer.email")
    parser.add_argument(
        "--phone", help="customer.phoneNumber (E.164, or national with --default-region)"
    )
    parser.add_argument("--customer-id", help="customer.id (24-hex ObjectId)")
    parser.add_argument(
        "--timestamp", help="eventTimestamp, RFC 3339 (default: now, set by the API)"
    )
    parser.add_argument("--value", type=float, help="value")
    parser.add_argument("--currency", help="valueCurrency, ISO 4217 (USD)")
    parser.add_argument("--unique-id", help="uniqueId (default: a random one, fixed at build time)")
    parser.add_argument("--data", action="append", metavar="KEY=VALUE", help="a data property")
    parser.add_argument("--extra", action="append", metavar="KEY=VALUE", help="a $extra entry")
    parser.add_argument("--allow-unknown-keys", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--default-region", metavar="CC", help="region for national phone numbers")
    _add_plan_option(parser)
    _add_target_options(parser)
    parser.set_defaults(handler=_send)


def _open_outbox_file(path: str) -> Any:
    from redo_kit._outbox_sqlite import SqliteOutbox

    if not Path(path).is_file():
        raise ConfigurationError(
            f"{path}: no such outbox file (a batcher made with outbox={path!r} creates it)"
        )
    return SqliteOutbox(path)


def _outbox_status(args: argparse.Namespace) -> int:
    outbox = _open_outbox_file(args.path)
    try:
        size = outbox.size()
        drainer = outbox.drainer()
    finally:
        outbox.close()
    if args.json:
        report = {
            "path": args.path,
            "events": size.events,
            "bytes": size.bytes,
            "drainer": None
            if drainer is None
            else {"pid": drainer[0], "host": drainer[1], "expires": drainer[2]},
        }
        print(orjson.dumps(report).decode())
        return 0
    # Only the drainer knows which events are in its requests: they are counted in.
    held = f"{size.events:,} event(s), {size.bytes:,} bytes (the drainer's requests included)"
    if drainer is None:
        who = "nobody drains it now (the next batcher that opens it, or `redo-kit outbox drain`)"
    else:
        who = f"drained by pid {drainer[0]} on {drainer[1]}"
    print(f"{args.path}: {held}; {who}")
    return 0


def _outbox_drain(args: argparse.Namespace) -> int:
    import time

    out = sys.stdout
    outbox = _open_outbox_file(args.path)
    before = outbox.size().events
    print(f"{args.path}: {before:,} event(s) to deliver", file=out)
    deadline = time.monotonic() + args.timeout
    with _target(args, out) as (client, emulator):
        batcher = client.batcher(
            outbox=outbox,
            flush_interval=0,
            delivery_timeout=args.timeout,
            dead_letter=args.dead_letter,
            handle_sigterm=False,
        )
        try:
            while outbox.size().events and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            result = batcher.close(max(0.0, deadline - time.monotonic()))
            stats = batcher.stats()
        left = result.queued + result.in_flight
        print(
            f"delivered {stats.sent:,}, failed {stats.failed:,}"
            f"{f' (written to {args.dead_letter})' if stats.failed and args.dead_letter else ''}"
            f", left in the outbox {left:,}",
            file=out,
        )
        if left:
            holder = _open_outbox_file(args.path)
            try:
                drainer = holder.drainer()
            finally:
                holder.close()
            if drainer is not None and drainer[0] != os.getpid():
                print(
                    f"pid {drainer[0]} on {drainer[1]} drains this outbox; "
                    "it delivers what is left",
                    file=sys.stderr,
                )
        if emulator is not None:
            _print_stored(emulator, out)
    return 0 if not left and not stats.failed else 1


def _add_outbox(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "outbox",
        help="look into or deliver a batcher's SQLite outbox file",
        description="A batcher made with outbox=PATH keeps every tracked event in that SQLite "
        "file until Redo has it. status says what the file holds and who drains it; drain "
        "delivers everything pending and exits (0: all delivered; 1: some failed or are left).",
        epilog="examples:\n"
        "  redo-kit outbox status /var/lib/shop/redo-outbox.sqlite3\n"
        "  REDO_API_KEY=... REDO_STORE_ID=... redo-kit outbox drain "
        "/var/lib/shop/redo-outbox.sqlite3 --timeout 120\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION")
    status = actions.add_parser("status", help="what the outbox holds, and who drains it")
    status.add_argument("path", metavar="PATH", help="the outbox file")
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    status.set_defaults(handler=_outbox_status)
    drain = actions.add_parser("drain", help="deliver every pending event, report, exit")
    drain.add_argument("path", metavar="PATH", help="the outbox file")
    drain.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="give up after this long; also each event's delivery budget (default 600)",
    )
    drain.add_argument(
        "--dead-letter", metavar="PATH", help="append events that failed for good (JSON Lines)"
    )
    _add_target_options(drain)
    drain.set_defaults(handler=_outbox_drain)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _add_relay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "relay",
        help="deliver what a fleet's batchers put into Redis (outbox=redis://...)",
        description="A long-running relay: it drains the Redis stream of every store given, "
        "fills bulk requests with the events of all producers and sends them to Redo, "
        "acknowledging each event only after Redo's 2xx (or once it is dead-lettered). Run "
        "several for more throughput or for failover: a relay that dies has its requests "
        "taken over by another after --visibility-timeout. Sending is paced fleet-wide "
        "through the same Redis (--local-pacing: per process). A status line goes to stderr "
        "every --status-every seconds and on SIGUSR1; SIGTERM or Ctrl-C lets the requests "
        "in flight finish, prints the last status and exits 0.",
        epilog="examples:\n"
        "  redo-kit relay --redis redis://redis:6379/0 "
        "--store 64e5a8a1af49a89df37e4ee7=env:REDO_KEY\n"
        "  redo-kit relay --redis redis://redis:6379/0 --store STORE_A=env:KEY_A "
        "--store STORE_B=env:KEY_B --dead-letter /var/lib/redo/dead.jsonl\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--redis", required=True, metavar="URL", help="redis://HOST:PORT/DB")
    parser.add_argument(
        "--store",
        action="append",
        default=[],
        required=True,
        metavar="STORE_ID=KEY",
        help="a store to relay and its API key; KEY may be env:VARIABLE to read it from the "
        "environment (keeps it out of the process list); repeat for more stores",
    )
    parser.add_argument(
        "--base-url", help="API base URL with version (default: $REDO_BASE_URL, else Redo's)"
    )
    parser.add_argument(
        "--namespace", default="redo-kit", help="Redis key prefix (default %(default)s)"
    )
    parser.add_argument(
        "--senders", type=int, default=8, help="requests in flight per store (default 8)"
    )
    parser.add_argument(
        "--linger",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="how long the oldest event may wait for a fuller request (default 0.2)",
    )
    parser.add_argument(
        "--delivery-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="retry an event for this long after it was tracked, then dead-letter it (default 600)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="take over a dead relay's requests after this long (default 30)",
    )
    parser.add_argument(
        "--dead-letter", metavar="PATH", help="append events given up for good (JSON Lines)"
    )
    parser.add_argument(
        "--status-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="print a status line this often; 0 for only on SIGUSR1 (default 10)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="requests per second per endpoint for each store (default: the API's limit in "
        "the spec)",
    )
    parser.add_argument(
        "--local-pacing",
        action="store_true",
        help="pace this process alone instead of the whole fleet through Redis",
    )
    parser.set_defaults(handler=_relay)


def _relay_clients(args: argparse.Namespace) -> list[RedoClient]:
    from redo_kit._client import RedoClient

    clients: list[RedoClient] = []
    for position, item in enumerate(args.store, 1):
        store_id, sep, key = item.partition("=")
        if not sep or not store_id.strip() or not key.strip():
            raise ConfigurationError(
                f"--store number {position} takes STORE_ID=KEY or STORE_ID=env:VARIABLE "
                "(the value is not shown: it may hold an API key)"
            )
        if key.startswith("env:"):
            name = key[4:]
            key = os.environ.get(name, "")
            if not key:
                raise ConfigurationError(
                    f"--store number {position}: the environment variable {name!r} is not set"
                )
        options: dict[str, Any] = {"store_id": store_id.strip(), "api_key": key.strip()}
        if args.base_url:
            options["base_url"] = args.base_url
        if args.rate_limit is not None:
            options["rate_limit"] = args.rate_limit
        clients.append(RedoClient(**options))
    return clients


def _relay(args: argparse.Namespace) -> int:
    import signal
    import threading
    import time

    from redo_kit._errors import OutboxError
    from redo_kit._redis import safe_url
    from redo_kit._relay import Relay

    clients = _relay_clients(args)
    if not args.local_pacing:
        from redo_kit._fleet_pacing import use_fleet_pacing

        use_fleet_pacing(args.redis, namespace=args.namespace)
    try:
        relay = Relay(
            args.redis,
            clients,
            namespace=args.namespace,
            senders=args.senders,
            linger=args.linger,
            delivery_timeout=args.delivery_timeout,
            dead_letter=args.dead_letter,
            visibility_timeout=args.visibility_timeout,
        )
    except OutboxError as exc:
        print(f"redo-kit relay: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    asked = threading.Event()
    started = time.monotonic()

    def status(final: bool = False) -> None:
        stats = relay.stats()
        uptime = time.monotonic() - started
        label = "stopped" if final else "running"
        print(
            f"relay {label} {uptime:.0f}s stores={len(clients)} {stats.line()}",
            file=sys.stderr,
            flush=True,
        )

    previous = {
        number: signal.signal(number, lambda *_: stop.set())
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, lambda *_: asked.set())
    relay.start()
    print(
        f"relay started for {len(clients)} store(s) from {safe_url(args.redis)} "
        f"(pid {os.getpid()})",
        file=sys.stderr,
        flush=True,
    )
    try:
        every = args.status_every if args.status_every > 0 else None
        last = time.monotonic()
        while not stop.is_set():
            stop.wait(0.2)
            if asked.is_set() or (every is not None and time.monotonic() - last >= every):
                asked.clear()
                last = time.monotonic()
                status()
        relay.stop()
        status(final=True)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for client in clients:
            client.close()
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="redo-kit",
        description="Send, check and emulate events for Redo's Custom Events API.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"redo-kit {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_import(commands)
    _add_send(commands)
    _add_validate(commands)
    _add_convert(commands)
    _add_emulator(commands)
    _add_generate(commands)
    _add_plan(commands)
    _add_spec(commands)
    _add_outbox(commands)
    _add_relay(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: _Command | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except ConfigurationError as exc:
        print(f"redo-kit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
