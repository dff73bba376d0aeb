"""The ``lottery`` command: parses arguments and calls the library.

    lottery run CONFIG [--synthetic] [--config.a.b=value ...] [--workdir DIR] [--json]
                [--no-progress]
    lottery report RUN_DIR [--json]
    lottery instability RUN_DIR --level L [--points 30] [--json] [--no-progress]
    lottery masks RUN_DIR [--json]

``instability`` trains two copies of an IMP level from its rewind point with
different data orders and reports the error barrier on the line between them
(``lottery.instability``; Frankle et al. 2020). ``masks`` writes the mask report
of an IMP run: effective density, sign flips, overlap across seeds
(``lottery.mask_report``).

``--synthetic`` swaps the config's ``data`` block for the synthetic twin of its
dataset (``lottery.data.synthetic``: random learnable data of the same shapes,
sizes, classes and augmentation), to measure speed where the real dataset cannot
be downloaded. The swap happens after the config is loaded and before the
``--config.*`` overrides, so ``--config.data.seed=1`` or
``--config.data.num_train=1000`` set the twin's options; a ``data.augment`` the
config sets is kept.

Bad input prints one line, ``lottery: error: <field>: <what is allowed>``, to
stderr and exits with status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from lottery.errors import LotteryError

EXIT_BAD_INPUT = 2
EXIT_OS_ERROR = 3  # the file system refused a write or read (e.g. a full disk)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lottery", description="Lottery-ticket experiments in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the experiment a config file describes")
    run.add_argument("config", help="a Python config file with get_config()")
    run.add_argument("--workdir", default="runs", help="where run directories go (default: runs)")
    run.add_argument("--json", action="store_true", help="print summary.json as the last line")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument(
        "--synthetic",
        action="store_true",
        help="train on random data shaped like the config's dataset (for speed measurement)",
    )
    rep = sub.add_parser("report", help="write the table and plots of an IMP run or a PaI sweep")
    rep.add_argument("run_dir", help="a run directory holding summary.json")
    rep.add_argument("--json", action="store_true", help="print the table rows as JSON")
    ins = sub.add_parser(
        "instability", help="linear mode connectivity of an IMP level (error barrier)"
    )
    ins.add_argument("run_dir", help="an IMP run directory")
    ins.add_argument("--level", type=int, required=True, help="the level to analyze")
    ins.add_argument("--points", type=int, default=30, help="points on the path (default 30)")
    ins.add_argument("--json", action="store_true", help="print the result as JSON")
    ins.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    msk = sub.add_parser("masks", help="mask report of an IMP run (overlap, effective density)")
    msk.add_argument("run_dir", help="an IMP run directory")
    msk.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _split_overrides(rest: list[str]) -> list[tuple[str, str]]:
    """Returns ``[(dotted.field, text)]`` from ``--config.a.b=v`` / ``--config.a.b v``."""
    pairs, i = [], 0
    while i < len(rest):
        arg = rest[i]
        if not arg.startswith("--config."):
            raise LotteryError("arguments", f"unrecognized argument '{arg}'")
        key = arg[len("--config.") :]
        if "=" in key:
            key, text = key.split("=", 1)
        elif i + 1 < len(rest):
            i += 1
            text = rest[i]
        else:
            raise LotteryError(key, "needs a value: --config.FIELD=VALUE")
        pairs.append((key, text))
        i += 1
    return pairs


def _synthetic(cfg) -> None:
    """Replaces ``cfg.data`` with the synthetic twin of its dataset (in place)."""
    import ml_collections

    from lottery.data import synthetic

    if cfg.data.name == "synthetic":
        return
    block = synthetic.twin_block(cfg.data.name)
    if "augment" in cfg.data:
        block["augment"] = cfg.data.augment
    cfg.data = ml_collections.ConfigDict(block)


def _run(args: argparse.Namespace, rest: list[str]) -> int:
    from lottery import config as config_lib
    from lottery import kinds, mesh

    mesh.initialize_distributed()  # multi-host jobs only; before any JAX computation
    cfg = config_lib.load(args.config)
    if args.synthetic:
        _synthetic(cfg)
    for key, text in _split_overrides(rest):
        config_lib.override(cfg, key, text)
    kind = cfg.get("kind", "train")
    summary = kinds.get(kind)(cfg, args.workdir, not args.no_progress)  # lottery.kinds.KINDS
    if kind == "train":
        acc = summary["test_accuracy"]
        print(
            f"test accuracy {acc:.4f} ({summary['replicates']} replicate(s)); "
            f"run: {summary['run_dir']}"
        )
    else:
        from lottery import report

        if summary.get("kind") in report.KINDS:
            files = report.write(summary, report.report_dir(summary["run_dir"]))
            print(report.format_table(summary), end="")
            print(f"run: {summary['run_dir']}; report: {files['txt'].parent}")
        else:  # a kind the report does not know (a fork's own)
            print(f"run: {summary.get('run_dir')}")
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return 0


def _report(args: argparse.Namespace) -> int:
    from lottery import report

    summary = report.load_summary(args.run_dir)
    files = report.write(summary, report.report_dir(args.run_dir))
    print(report.format_table(summary), end="")
    for kind, path in files.items():
        print(f"{kind}: {path}")
    if args.json:
        print(json.dumps(report.table_rows(summary), sort_keys=True))
    return 0


def _instability(args: argparse.Namespace) -> int:
    from lottery import instability

    result = instability.analyze(
        args.run_dir, args.level, points=args.points, progress=not args.no_progress
    )
    print(instability.format_table(result), end="")
    print(f"files: {instability.folder(args.run_dir, args.level)}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


def _masks(args: argparse.Namespace) -> int:
    from lottery import mask_report, report

    result = mask_report.analyze_run(args.run_dir)
    written = mask_report.write(result, report.report_dir(args.run_dir))
    print(mask_report.format_table(result), end="")
    for kind, path in written.items():
        print(f"{kind}: {path}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0; 2 for bad input; 3 when
    the file system fails, e.g. a full disk, with one line naming the file)."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command == "run":
            return _run(args, rest)
        if args.command == "report":
            if rest:
                raise LotteryError("arguments", f"unrecognized argument '{rest[0]}'")
            return _report(args)
        if args.command == "instability":
            if rest:
                raise LotteryError("arguments", f"unrecognized argument '{rest[0]}'")
            return _instability(args)
        if args.command == "masks":
            if rest:
                raise LotteryError("arguments", f"unrecognized argument '{rest[0]}'")
            return _masks(args)
    except LotteryError as err:
        print(f"lottery: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # a full disk, a read-only or vanished folder
        where = err.filename or "file system"
        print(
            f"lottery: error: {where}: {err.strerror or err}; nothing was lost: "
            "free the space (or fix the folder) and rerun the same command",
            file=sys.stderr,
        )
        return EXIT_OS_ERROR
    return EXIT_BAD_INPUT


def entry() -> None:
    """Console-script entry point: exits with ``main()``'s status."""
    sys.exit(main())
