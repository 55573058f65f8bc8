"""`wig80 data synth | import | info | actions`: fill and inspect the bar store (embedded unless MARKET_DB_URL
is set) and its corporate actions."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from pathlib import Path

from market_data import action_table
from market_data.corporate_actions import CorporateAction, format_ratio, parse_ratio
from market_data.importer import ImportReport, describe_conflicts, import_paths
from market_data.stores import BarStore, SymbolSummary, open_store
from market_data.stores.base import SymbolChange
from market_data.synthetic import synthesize

MAX_SKIPPED_SHOWN = 20  # no-trade days are routine; every rejected row is always shown


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="market data: synthesize, import, inspect the bar store")
    actions = data.add_subparsers(dest="data_action", metavar="ACTION", required=True)

    synth = actions.add_parser("synth", help="store a synthetic small-cap market (deterministic per seed)")
    synth.add_argument("--symbols", type=int, default=20, help="number of symbols (sWIG80 tickers first)")
    synth.add_argument("--days", type=int, default=1000, help="trading days per symbol")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(handler=run_synth)

    importer = actions.add_parser("import", help="import stooq / GPW archive files or folders of them")
    importer.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    importer.add_argument("--strict", action="store_true", help="any rejected row fails the import, nothing written")
    importer.add_argument("--json", action="store_true", help="print the full report as JSON")
    importer.set_defaults(handler=run_import)

    info = actions.add_parser("info", help="per symbol: rows, first and last date")
    info.add_argument("--json", action="store_true", help="one JSON object keyed by symbol")
    info.set_defaults(handler=run_info)
    register_actions(actions)


def register_actions(actions: argparse._SubParsersAction) -> None:
    table = actions.add_parser("actions", help="corporate actions: list, add, dismiss, remove, apply, import, scan")
    commands = table.add_subparsers(dest="actions_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="the recorded actions (pending ones quarantine their symbol)")
    listing.add_argument("symbol", nargs="?")
    listing.add_argument("--json", action="store_true")
    add = commands.add_parser("add", help="record an active action and back-adjust the history before its date")
    add.add_argument("symbol")
    add.add_argument("ex_date", type=datetime.date.fromisoformat, help="the first day on the new basis, YYYY-MM-DD")
    add.add_argument("ratio", type=parse_ratio, help="10 for a 1:10 split, 1/100 for a 100:1 consolidation")
    add.add_argument("--note", default="")
    for name, text in (("dismiss", "the move was real: never adjust or flag it (prices restored)"),
                       ("remove", "undo the action in the prices and delete it")):
        command = commands.add_parser(name, help=text)
        command.add_argument("symbol")
        command.add_argument("ex_date", type=datetime.date.fromisoformat)
    apply = commands.add_parser("apply", help="bring the stored prices in line with the table (after editing it)")
    apply.add_argument("symbol", nargs="?")
    known = commands.add_parser("import", help="record and apply a file of known actions: symbol,ex_date,ratio[,note]")
    known.add_argument("path", type=Path)
    scan = commands.add_parser("scan", help="judge the stored history for split-like days no action covers")
    scan.add_argument("symbols", nargs="*")
    scan.add_argument("--record", action="store_true", help="record what was found (splits applied, ambiguous pending)")
    table.set_defaults(handler=run_actions)


def _open_configured_store() -> BarStore:
    from settings import Settings

    settings = Settings()
    return open_store(settings.market_db_url, settings.home)


def run_synth(args: argparse.Namespace) -> int:
    async def synth() -> int:
        async with _open_configured_store() as store:
            series = synthesize(args.symbols, args.days, args.seed)
            result = await store.append_many(series)
            conflicts = await describe_conflicts(store, series, "the synthetic market") if result.duplicates else []
            for note in conflicts:
                print(f"warning: {note}", file=sys.stderr)
            print(f"synthesized {len(series)} symbols x {args.days} trading days (seed {args.seed}): "
                  f"stored {result.stored} bars, {result.duplicates} already present, in {store.description}")
            print(format_summary(await store.list_symbols()))
        return 0

    return _run(synth())


def run_import(args: argparse.Namespace) -> int:
    async def run() -> int:
        async with _open_configured_store() as store:
            report = await import_paths(args.paths, store, strict=args.strict, progress=True)
            print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
            if not args.json:
                print(f"store: {store.description}")
        return 0 if report.clean else 1

    return _run(run())


def run_info(args: argparse.Namespace) -> int:
    async def info() -> int:
        async with _open_configured_store() as store:
            summary = await store.list_symbols()
            if args.json:
                print(json.dumps({symbol: {"rows": s.rows, "first": s.first.isoformat(), "last": s.last.isoformat()}
                                  for symbol, s in summary.items()}))
            else:
                print(f"{store.description}")
                print(format_summary(summary))
        return 0

    return _run(info())


def run_actions(args: argparse.Namespace) -> int:
    async def actions() -> int:
        async with _open_configured_store() as store:
            command = args.actions_command
            if command == "list":
                recorded = await store.corporate_actions(action_table.ticker(args.symbol) if args.symbol else None)
                print(json.dumps([action_dict(a) for a in recorded], indent=2) if args.json else format_actions(recorded))
                return 0
            if command == "scan":
                results = await action_table.scan_stored(store, args.symbols, record=args.record)
                print("\n".join(j.describe() for r in results for j in r.jumps) or "no split-like day found")
                if args.record:
                    print(f"recorded {sum(len(r.actions) for r in results)} actions")
                return 0
            if command == "import":
                recorded, changes = await action_table.import_known_actions(store, args.path)
                print(f"recorded {len(recorded)} actions from {args.path}")
            elif command == "add":
                changes = await action_table.add_action(store, args.symbol, args.ex_date, args.ratio, args.note)
            elif command == "dismiss":
                changes = await action_table.dismiss_action(store, args.symbol, args.ex_date)
            elif command == "remove":
                changes = await action_table.remove_action(store, args.symbol, args.ex_date)
            else:
                changes = await store.apply_actions(action_table.ticker(args.symbol) if args.symbol else None)
            print(format_changes(changes))
        return 0

    return _run(actions())


def action_dict(action: CorporateAction) -> dict:
    return {"symbol": action.symbol, "ex_date": action.ex_date.isoformat(), "ratio": action.ratio,
            "kind": action.kind, "status": action.status, "source": action.source, "applied": action.applied,
            "note": action.note}


def format_actions(actions: list[CorporateAction]) -> str:
    if not actions:
        return "no corporate actions recorded"
    lines = [f"{'symbol':<8} {'ex_date':<10}  {'kind':<5} {'ratio':>10} {'applied':>10}  {'status':<9} {'source':<8} note"]
    lines += [f"{a.symbol:<8} {a.ex_date}  {a.kind:<5} {format_ratio(a.ratio):>10} {format_ratio(a.applied):>10}  "
              f"{a.status:<9} {a.source:<8} {a.note[:100]}" for a in actions]
    quarantined = sorted({a.symbol for a in actions if a.status == "pending"})
    if quarantined:
        lines.append(f"quarantined (pending actions): {', '.join(quarantined)}")
    return "\n".join(lines)


def format_changes(changes: list[SymbolChange]) -> str:
    if not changes:
        return "stored prices already in line with the table: nothing rewritten"
    return "\n".join(f"{c.symbol}: {c.rows} bars rewritten ({c.first_date}..{c.last_date}), change {c.change}"
                     for c in changes)


def _run(work) -> int:
    try:
        return asyncio.run(work)
    except (OSError, ValueError, NotImplementedError) as error:  # asyncpg's connection errors are OSErrors; QuestDB lacks the feed
        print(f"wig80 data: {error}", file=sys.stderr)
        return 1


def format_summary(summary: dict[str, SymbolSummary]) -> str:
    if not summary:
        return "no bars stored"
    lines = [f"{'symbol':<8} {'rows':>7}  {'first':<10}  {'last':<10}"]
    lines += [f"{symbol:<8} {s.rows:>7}  {s.first}  {s.last}" for symbol, s in summary.items()]
    lines.append(f"{len(summary)} symbols, {sum(s.rows for s in summary.values())} bars")
    return "\n".join(lines)


def format_report(report: ImportReport) -> str:
    """The per-file table, then every file error and rejected row (`path:line: reason`), the first
    MAX_SKIPPED_SHOWN skipped rows, the notes and the accounting."""
    lines = [f"{'file':<40} {'format':<11} {'read':>6} {'stored':>6} {'dup':>6} {'skip':>5} {'rej':>5} {'unwr':>6}"]
    for f in report.files:
        if f.ignored:
            lines.append(f"{_short(f.path):<40} ignored: {f.ignored}")
            continue
        lines.append(f"{_short(f.path):<40} {f.format_name or '-':<11} {f.rows_read:>6} {f.stored:>6} "
                     f"{f.duplicates:>6} {f.skipped:>5} {f.rejected:>5} {f.not_written:>6}")
    lines += [f"  {issue}" for issue in report.errors()]
    skipped = [issue for f in report.files for issue in f.skipped_rows]
    lines += [f"  {issue}" for issue in skipped[:MAX_SKIPPED_SHOWN]]
    if len(skipped) > MAX_SKIPPED_SHOWN:
        lines.append(f"  ... {len(skipped) - MAX_SKIPPED_SHOWN} more skipped rows (all of them: --json)")
    lines += [note for f in report.files for note in f.notes]
    lines += [f"corporate action recorded: {a.describe()}: {a.note}" for a in report.actions]
    quarantined = report.to_dict()["quarantined"]
    if quarantined:
        lines.append(f"quarantined (evidence ambiguous, prices left as imported; decide with `wig80 data actions "
                     f"add|dismiss`): {', '.join(quarantined)}")
    t = report.totals
    lines.append(f"rows read {t['rows_read']} = stored {t['stored']} + duplicates {t['duplicates']} "
                 f"+ skipped {t['skipped']} + rejected {t['rejected']} + not written (unwr) {t['not_written']}")
    if report.aborted:
        lines.append("--strict: rejections found, nothing was written")
    return "\n".join(lines)


def _short(path: Path) -> str:
    return str(Path(path.parent.name) / path.name)[-40:]
