"""`wig80 data synth | import | info`: fill and inspect the bar store (embedded unless MARKET_DB_URL is set)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from market_data.importer import ImportReport, describe_conflicts, import_paths
from market_data.stores import BarStore, SymbolSummary, open_store
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


def _run(work) -> int:
    try:
        return asyncio.run(work)
    except (OSError, ValueError) as error:  # asyncpg's connection errors are OSErrors
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
    t = report.totals
    lines.append(f"rows read {t['rows_read']} = stored {t['stored']} + duplicates {t['duplicates']} "
                 f"+ skipped {t['skipped']} + rejected {t['rejected']} + not written (unwr) {t['not_written']}")
    if report.aborted:
        lines.append("--strict: rejections found, nothing was written")
    return "\n".join(lines)


def _short(path: Path) -> str:
    return str(Path(path.parent.name) / path.name)[-40:]
