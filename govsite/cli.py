"""The command line. The only module that prints; exit codes: 0 ok, 1 user errors, 2 usage,
3 an internal error (a bug in govsite, shown in full with --debug)."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from govsite import __version__, config, discover, frontmatter
from govsite.build import UsageError, clock
from govsite.build import build as run_build
from govsite.diagnostics import BuildFailed, Report, did_you_mean
from govsite.output import UnsafeOutput

PROJECT = click.option(
    "--project", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("."),
    show_default=True, help="Folder holding sites.yaml, content/ and themes/.")
DEBUG = click.option("--debug", is_flag=True, help="Show Python tracebacks for internal errors.")


def run() -> None:
    """The `govsite` program: main(), then out of the process at once. Everything is written
    and closed by then; what Python's own shutdown would add is freeing every object one by
    one, a tenth of a second of each build for nothing (mypy leaves the same way)."""
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exit_:
        code = exit_.code
    if isinstance(code, str):
        click.echo(code, err=True)
        code = 1
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)   # a profiler or coverage writes its results at Python's shutdown
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):   # a reader that went away (`… | head`)
            stream.flush()
    os._exit(code or 0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="govsite")
def main() -> None:
    """govsite builds a cluster of government websites from sites.yaml and content/."""


@main.command()
@PROJECT
@click.option("--site", "sites", multiple=True, metavar="ID",
              help="Build only this site (repeatable); other sites' files in the output are kept.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder.  [default: build/ in the project]")
@click.option("--drafts", is_flag=True,
              help="Include drafts and scheduled pages, marked with a preview banner. Never deploy this.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes to use.  [default: every core, from 1,000 pages]")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="GOVSITE_CACHE",
              help="Folder of work kept between builds (keep it in CI); or set GOVSITE_CACHE.  "
                   "[default: .govsite-cache/ in the project]")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--profile", is_flag=True, help="Print the time of each stage and the slowest templates.")
@DEBUG
def build(project: Path, sites: tuple[str, ...], out: Path | None, drafts: bool, strict: bool,
          jobs: int | None, cache_dir: Path | None, no_cache: bool, profile: bool,
          debug: bool) -> None:
    """Build every site of the cluster into the output folder, atomically."""
    out = out if out is not None else project / "build"
    try:
        cache = None if no_cache else cache_dir or project / ".govsite-cache"
        result = run_build(project, out, sites, drafts=drafts, strict=strict, jobs=jobs, cache=cache,
                           progress=_progress_bar())
    except BuildFailed as failure:
        report = failure.report
        _print_report(report, strict)
        count = len(report.errors(strict))
        click.echo(f"build failed: {count} error{'s' * (count != 1)}; {out} was left unchanged",
                   err=True)
        sys.exit(1)
    except (UsageError, UnsafeOutput) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception:
        _internal_error(debug)
    _print_report(result.report, strict)
    if profile:
        _print_profile(result.timings, result.memory, result.template_seconds)
    warnings = len(result.report.items)
    click.echo(f"built {len(result.sites)} site{'s' * (len(result.sites) != 1)}, "
               f"{result.pages} pages, {result.files} files into {out}"
               + (f" ({warnings} warning{'s' * (warnings != 1)})" if warnings else ""))


@main.command()
@PROJECT
@click.argument("query")
@click.option("--site", metavar="ID", help="Only results from this site.")
@click.option("--limit", default=10, show_default=True, help="How many results to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@DEBUG
def search(project: Path, query: str, site: str | None, limit: int, as_json: bool,
           debug: bool) -> None:
    """Search the cluster's published pages with the same analysis and ranking as the site search."""
    import json

    from govsite import markup
    from govsite.build import _Stages, load_cluster
    from govsite.search import settings as search_settings
    from govsite.search.index import T2S_PATH, build_index, documents, t2s_files
    from govsite.search.query import Filters
    from govsite.search.query import search as run_search

    try:
        report = Report(project.absolute())
        cluster = load_cluster(project.absolute(), report, clock(), False, _Stages(report, False))
        if site and site not in cluster.sites:
            raise UsageError(f"no site `{site}` in sites.yaml; "
                             + did_you_mean(site, cluster.sites, "run without --site to search them all"))
        bodies = markup.convert_all(cluster, report)
        settings = search_settings.load(project.absolute(), tuple(cluster.sites), report)
        if report.errors():
            _print_report(report, False)
            sys.exit(1)
        # The portal's index: the whole cluster, as its search page sees it.
        files = build_index(documents(cluster, bodies), settings.synonyms, (), settings.ranking)
        files.update({T2S_PATH + name: text for name, text in t2s_files().items()})
        result = run_search(files.__getitem__, query, limit=limit, filters=Filters(site=site))
    except BuildFailed as failure:
        _print_report(failure.report, False)
        sys.exit(1)
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception:
        _internal_error(debug)
    if as_json:
        click.echo(json.dumps([hit.__dict__ for hit in result.hits], ensure_ascii=False, indent=1))
        return
    for number, hit in enumerate(result.hits, start=1):
        click.echo(f"{number:2}. {hit.title}  [{hit.site} · {hit.column}{' · ' + hit.date if hit.date else ''}]")
        click.echo(f"    {hit.url}")
    if result.suggestion:
        click.echo(f"did you mean: {result.suggestion}")
    if not result.hits:
        click.echo("no results")


@main.command()
@PROJECT
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The build to check.  [default: build/ in the project; when it holds no "
                   "build, the cluster is built into a temporary folder]")
@click.option("--site", "sites", multiple=True, metavar="ID", help="Check only this site (repeatable).")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Evaluate freshness on this day (YYYY-MM-DD).  [default: now]")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "html"]),
              default="text", show_default=True, help="How to print the findings.")
@click.option("--output", "output_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of standard output.")
@click.option("--external", is_flag=True, help="Also request every external link (rate-limited, cached).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes to use for a build.  [default: every core, from 1,000 pages]")
@DEBUG
def check(project: Path, out: Path | None, sites: tuple[str, ...], as_of: str | None, fmt: str,
          output_file: Path | None, external: bool, strict: bool, jobs: int | None,
          debug: bool) -> None:
    """Check every site against the national spot-check rules, links and accessibility.

    Exit code 0 when clean, 1 on errors (on warnings too with --strict), 2 on usage errors."""
    from govsite.check import check as run_check
    from govsite.check import report as check_report

    out = out if out is not None else project / "build"
    try:
        moment = _as_of(as_of)
        cluster_config = config.load(project.absolute(), Report(project.absolute()))
        known = cluster_config.ids if cluster_config else ()
        for site in sites:
            if known and site not in known:
                raise UsageError(f"no site `{site}` in sites.yaml; " + did_you_mean(site, known))
        result = run_check(project, out, moment, sites, external, jobs)
    except BuildFailed as failure:
        from govsite.check import Finding
        from govsite.check.rules import RULES
        for item in failure.report.sorted():
            rule = item.rule if item.rule in RULES else "content-error"
            click.echo(str(Finding("", item.path, item.line, rule, item.level, item.message, item.hint)))
        click.echo("check stopped: sites.yaml must be valid before anything else can be checked",
                   err=True)
        sys.exit(1)
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception:
        _internal_error(debug)
    rendered = check_report.render(result, fmt)
    if output_file:
        output_file.write_text(rendered, encoding="utf-8")
        click.echo(check_report.summary(result) + f"; report in {output_file}", err=True)
    else:
        click.echo(rendered, nl=False)
        if fmt != "text":
            click.echo(check_report.summary(result), err=True)
    sys.exit(1 if result.failed(strict) else 0)


def _as_of(text: str | None) -> datetime:
    if not text:
        return clock()
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date; write it as YYYY-MM-DD") from None
    # The end of that day in China: freshness counts whole days, and a check "as of" a day
    # sees what was published during it.
    return day.replace(hour=23, minute=59, second=59, tzinfo=timezone(timedelta(hours=8)))


@main.command()
@PROJECT
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processes to use.  [default: every core, from 1,000 pages]")
@DEBUG
def serve(project: Path, port: int, jobs: int | None, debug: bool) -> None:
    """Preview the cluster on 127.0.0.1, rebuilding and reloading when a file is saved.

    Drafts and scheduled pages are shown, with a banner. Never deploy what it builds."""
    from govsite.serve import serve as run_serve

    try:
        run_serve(project, port, jobs, lambda text: click.echo(text, err=True))
    except OSError as exc:
        click.echo(f"error: cannot serve on 127.0.0.1:{port}: {exc.strerror} — try --port", err=True)
        sys.exit(2)
    except Exception:
        _internal_error(debug)


@main.command("next-change")
@PROJECT
@click.option("--all", "show_all", is_flag=True, help="List every upcoming change, not only the next.")
@DEBUG
def next_change(project: Path, show_all: bool, debug: bool) -> None:
    """Print when the next scheduled publication, expiry or withdrawal falls (for a CI cron).

    The first field is an ISO 8601 time; nothing is printed when no change is scheduled."""
    try:
        report = Report(project.absolute())
        cluster_config = config.load(project.absolute(), report)
        parsed = None
        if cluster_config:
            found = discover.find_sources(cluster_config, report)
            parsed = frontmatter.parse(cluster_config, found.sources, report)
        if report.errors() or parsed is None:
            _print_report(report, False)
            sys.exit(1)
        now = clock()
        changes: list[tuple[datetime, str, str]] = []
        for page in parsed.pages:
            if page.draft:
                continue
            for moment, what in ((page.date, "publish"), (page.expires, "expire"),
                                 (page.withdrawn.date if page.withdrawn else None, "withdraw")):
                if moment and moment > now:
                    changes.append((moment, what, page.source))
        changes.sort(key=lambda c: (c[0], c[2], c[1]))
        for moment, what, source in changes if show_all else changes[:1]:
            click.echo(f"{moment.isoformat(timespec='seconds')} {what} {source}")
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception:
        _internal_error(debug)


def _progress_bar():
    """A one-line bar on a terminal; nothing in CI logs or when the output is piped."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None

    def show(stage: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(1, total)
        end = "\n" if done >= total else ""
        click.echo(f"\r{stage:<8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}",
                   nl=False, err=True)
    return show


def _print_profile(stages: dict[str, float], memory: dict[str, float],
                   templates: dict[str, float]) -> None:
    click.echo("time per stage (and the peak memory of any one process so far):", err=True)
    width = max(map(len, stages), default=0)
    for stage, seconds in stages.items():
        click.echo(f"  {stage:<{width}} {seconds:7.2f} s {memory.get(stage, 0):8.0f} MB", err=True)
    click.echo("slowest templates (rendering time summed over processes):", err=True)
    for template, seconds in sorted(templates.items(), key=lambda t: -t[1])[:10]:
        click.echo(f"  {template:<24} {seconds:7.2f} s", err=True)


def _print_report(report: Report, strict: bool) -> None:
    for item in report.sorted():
        line = str(item)
        if strict and item.level == "warning":
            line = line.replace(": warning: ", ": error: ", 1)
        click.echo(line, err=True)


def _internal_error(debug: bool) -> None:
    if debug:
        traceback.print_exc()
    else:
        kind, value, _ = sys.exc_info()
        click.echo(f"internal error: {kind.__name__ if kind else 'error'}: {value} — this is a bug "
                   "in govsite, not in your content; rerun with --debug and report it", err=True)
    sys.exit(3)
