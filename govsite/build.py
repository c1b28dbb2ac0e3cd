"""The pipeline, top to bottom: config → discover → parse → assemble → convert → render → write.

A rebuild whose edits the previous build's model can take (govsite.snapshot: a page's text,
say) patches that model instead of parsing, assembling and converting the cluster again.
Each stage hands plain data to the next and reports problems instead of raising. The pipeline
stops after any stage that found errors, before anything is written: only `output.Staging.commit`
replaces `build/`, and only when the whole cluster rendered cleanly.
"""

from __future__ import annotations

import gc
import importlib
import mmap
import multiprocessing
import os
import pickle
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import orjson

from govsite import (
    assemble,
    config,
    discover,
    feeds,
    frontmatter,
    markup,
    output,
    sitemap,
    snapshot,
    themes,
)
from govsite.cache import Cache, CacheBusy, ForkedCache, Pack, replay, unpickled
from govsite.check.guard import OutputGuard, note_all
from govsite.diagnostics import BuildFailed, Report, did_you_mean
from govsite.model import Cluster, source_of
from govsite.parallel import (
    Background,
    LeanProcess,
    apart,
    default_jobs,
    libc_function,
    ordered_map,
    release_freed_memory,
)
from govsite.render import Output, Renderer, Reused
from govsite.search import DocumentBasis
from govsite.search import settings as search_settings
from govsite.urls import host_root, output_path, quote_path


class UsageError(Exception):
    """The command line asked for something that does not exist (exit code 2)."""


@dataclass
class BuildResult:
    report: Report
    pages: int = 0
    files: int = 0
    sites: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)   # peak MB by the end of each stage
    template_seconds: dict[str, float] = field(default_factory=dict)   # summed over processes
    # The cluster and its bodies (text only: the HTML is dropped once rendered), when asked for
    # with keep_model: `govsite serve` renders a saved page against them before rebuilding.
    model: tuple[Cluster, MutableMapping[str, markup.Body]] | None = None


# Told (stage, done, total) as a build goes: the command line draws a bar in a terminal.
Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    pass


def peak_memory() -> float:
    """The largest resident size, in MB, of this process or any worker it has waited for.
    This process's own comes from /proc where there is one: getrusage's includes the peak of
    whatever process started this one (Linux carries it across exec), so a build started by a
    large parent reported that parent's size as its own."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        pass
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


M_MMAP_THRESHOLD = -3   # glibc's mallopt() parameter


def map_large_blocks() -> None:
    """Have every block of a megabyte or more (numpy's arrays, mostly) mapped on its own, and
    so returned to the system when freed. glibc does so from 128 KB, but raises that bar to
    the size of each such block freed, up to 32 MB: the search stage's arrays of hundreds of
    megabytes then came from the heap, and freed, stayed in the process as holes between
    smaller blocks. Fixed at 1 MB, the 100,000-page build's peak fell from 2.22 to 1.87 GB."""
    mallopt = libc_function("mallopt")
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, 1 << 20)


def clock() -> datetime:
    """The moment that decides what is published: SOURCE_DATE_EPOCH if set, else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), tz=UTC)
        except ValueError:
            raise UsageError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds") from None
    return datetime.now(UTC)


class _Stages:
    def __init__(self, report: Report, strict: bool, keep_going: bool = False):
        self.report = report
        self.strict = strict
        self.keep_going = keep_going  # `govsite check` wants every finding, not the first stage's
        self.timings: dict[str, float] = {}
        self.memory: dict[str, float] = {}
        self._start = time.perf_counter()

    def done(self, name: str, stop: bool = True) -> None:
        now = time.perf_counter()
        self.timings[name] = now - self._start
        self.memory[name] = peak_memory()
        self._start = now
        if stop and not self.keep_going and self.report.errors(self.strict):
            raise BuildFailed(self.report, name)


def load_cluster(project: Path, report: Report, now: datetime, preview: bool,
                 stages: _Stages, store: Cache | None = None, jobs: int | None = None) -> Cluster:
    """Everything up to a complete, validated cluster; shared by build and check commands."""
    cluster_config = _config(project, report, stages)
    found = discover.find_sources(cluster_config, report, jobs)
    stages.done("discover", stop=False)
    return _assembled(cluster_config, found, report, now, preview, stages, store, jobs)[0]


def _config(project: Path, report: Report, stages: _Stages) -> config.ClusterConfig:
    cluster_config = config.load(project, report)
    stages.done("config")
    if cluster_config is None:  # nothing can be built or checked without the sites
        raise BuildFailed(report, "config")
    return cluster_config


def _assembled(cluster_config: config.ClusterConfig, found: discover.Discovery, report: Report,
               now: datetime, preview: bool, stages: _Stages, store: Cache | None,
               jobs: int | None, spool: bool = False) -> tuple[Cluster, frontmatter.Parsed]:
    # Discover, parse and assemble go on past errors so that one run reports broken front
    # matter and broken links together; files that failed to parse are known to the link
    # resolver, so they cause no second, misleading error. Nothing renders until all is clean.
    parsed = frontmatter.parse(cluster_config, found.sources, report, store,
                               jobs or _default_jobs(len(found.sources)), spool)
    stages.done("parse", stop=False)
    invalid = frozenset(s.rel for s in found.sources) - parsed.valid_sources()
    cluster = assemble.assemble(cluster_config, parsed, found.attachments, now, preview, report,
                                invalid)
    stages.done("assemble", stop=False)
    return cluster, parsed


@dataclass
class _Model:
    cluster: Cluster
    bodies: MutableMapping[str, markup.Body]
    edited: frozenset[str] | None   # the pages a kept model was patched with (Renderer.compare)
    keep: Callable[[], None]        # keeps it for the next build (once this one succeeded)
    documents: DocumentBasis        # whose search documents this model's are


def _model(project: Path, only: tuple[str, ...], report: Report, now: datetime, preview: bool,
           stages: _Stages, store: Cache, jobs: int | None) -> _Model:
    """The cluster and its bodies: the previous build's model with the pages edited since taken
    anew where that is all that changed (govsite.snapshot), else made from every source."""
    cluster_config = _config(project, report, stages)
    unknown = [s for s in only if s not in cluster_config.ids]
    if unknown:
        raise UsageError(f"no site `{unknown[0]}` in sites.yaml; "
                         + did_you_mean(unknown[0], cluster_config.ids))
    kept = snapshot.index(store, cluster_config, preview)
    # Where the previous build kept its model, what changed since is asked of git, which
    # answers while the kept model is read; where it answers, the sources are not walked.
    asking = discover.changed_since(cluster_config, kept.vouched, kept.sources) \
        if kept and kept.vouched else None
    # (In a list, given away: a model made anew next does not come on top of the kept one.)
    kept_model = [snapshot.load(kept, store, cluster_config, now)] if kept and asking else []
    found: discover.Discovery | discover.Since | None = asking() if asking else None
    if found is None:
        found = discover.find_sources(cluster_config, report, jobs)
    stages.done("discover", stop=False)
    jobs = jobs or _default_jobs(sum(map(len, found.digests.values())))
    build_id = uuid.uuid4().hex
    discovered = len(report.items)
    patched = snapshot.patched(kept, store, cluster_config, found, now, report, jobs,
                               kept_model.pop if kept_model else None) if kept else None
    kept_model.clear()
    if kept is not None and patched is not None:
        if isinstance(found, discover.Since):   # (reported where find_sources would have)
            report.items[discovered:discovered] = found.vouched.findings
        stages.done("kept model, patched")
        patched.kept.build = build_id
        return _Model(patched.cluster, patched.bodies, patched.edited,
                      partial(snapshot.save, store, patched.kept, kept, patched),
                      DocumentBasis(build_id, kept.build, patched.edited))
    if isinstance(found, discover.Since):   # a model to make anew, of every source
        found = discover.find_sources(cluster_config, report, jobs)
    start = len(report.items)
    made = _made_apart(cluster_config, found, report, now, preview, stages, store, jobs, kept) \
        if jobs > 1 else _made(cluster_config, found, report, now, preview, stages, store, jobs, kept)
    fresh = snapshot.Kept(snapshot.model_key(cluster_config, preview), made.cluster, made.bodies,
                          found.digests, report.items[start:], made.window, made.assembled_files,
                          build_id, pickled=made.pickled, vouched=found.vouched)
    return _Model(made.cluster, made.bodies, None, partial(snapshot.save, store, fresh, kept),
                  DocumentBasis(build_id))


@dataclass
class _Made:
    """A model made from every source, and what the next build keeps of how."""

    cluster: Cluster
    bodies: MutableMapping[str, markup.Body]   # (snapshot.ConvertedBodies)
    window: tuple[datetime | None, datetime | None]   # (snapshot.Kept)
    assembled_files: frozenset[str]
    # From a process of its own (_made_apart): what it reported, its stages' times and peaks,
    # and what its cache noted.
    findings: list = field(default_factory=list)
    stages: tuple[dict[str, float], dict[str, float], float] = ({}, {}, 0.0)
    noted: list = field(default_factory=list)
    pickled: dict[str, Any] = field(default_factory=dict)   # (snapshot.Kept.pickled)


def _made(cluster_config: config.ClusterConfig, found: discover.Discovery, report: Report,
          now: datetime, preview: bool, stages: _Stages, store: Cache, jobs: int,
          kept: snapshot.Index | None) -> _Made:
    """The cluster and its bodies from every source: parsed, assembled and converted."""
    # The bodies wait in files from parsing to converting (Parsed.texts), not in this process.
    cluster, parsed = _assembled(cluster_config, found, report, now, preview, stages, store, jobs,
                                 spool=True)
    assembled_files = frozenset(cluster.resolver.used_files)
    window, texts = snapshot.window(parsed.pages, now), parsed.texts
    # What the bodies are converted from, read while the pages are objects: read from the
    # packed pages, the last chunks unpickled stayed (Chunked.RECENT, 19 MB at 100,000 pages).
    work = markup.body_sources(cluster)
    # Assembled, the pages are held packed, as a kept model's are (snapshot.Chunked): as
    # objects, 172 MB at 100,000 pages, which the bodies converted next would come on top of
    # (and every process forked to convert them would count); packed, 15 MB, and each process
    # unpickles what it reads. A page's Markdown is not on it (see frontmatter.read_body).
    del parsed
    for page in cluster.pages.values():
        object.__setattr__(page, "body", None)
    cluster.pages = snapshot.KeptPages.packed(cluster.pages)
    cluster.__dict__.pop("pages_by_site", None)   # (its pages, as objects)
    # The bodies, packed as they come, are handed over so (and unpickled where read).
    bodies = markup.convert_all(cluster, report, jobs, store,
                                earlier=partial(snapshot.earlier_targets, store, kept),
                                texts=texts, work=work, into=snapshot.Packing())
    return _Made(cluster, bodies, window, assembled_files)


def _made_apart(cluster_config: config.ClusterConfig, found: discover.Discovery, report: Report,
                now: datetime, preview: bool, stages: _Stages, store: Cache, jobs: int,
                kept: snapshot.Index | None) -> _Made:
    """_made() in a process of its own (parallel.apart), which leaves with the memory that
    parsing, assembling and converting every source took: this process then holds the model
    it hands over, packed (at 100,000 pages, 280 MB as rendering starts instead of 533, and a
    render worker 365 instead of 551)."""
    start = len(report.items)
    folder = store.path.parent if store.path is not None else None

    def make() -> _Made:
        forked = ForkedCache(folder, spill.fileno())
        made = _made(cluster_config, found, report, now, preview, stages, forked, jobs, kept)
        forked.close()
        made.findings = report.items[start:]
        # What the next build keeps of the cluster, pickled here, where memory is to spare
        # (kept only if the build succeeds: snapshot.save).
        made.pickled = snapshot.pickled_records(snapshot.Kept(
            snapshot.model_key(cluster_config, preview), made.cluster, made.bodies, {},
            made.findings, made.window, made.assembled_files), kept)
        made.stages = (stages.timings, stages.memory, stages._start)
        made.noted = forked.log
        return made

    with tempfile.TemporaryFile(prefix="govsite-kept-") as spill:
        collecting = gc.isenabled()   # (what it unpickles here lives to the end: see _record)
        gc.disable()
        try:
            made = apart(make)
        finally:
            if collecting:
                gc.enable()
        replay(store, made.noted, spill.fileno())
    made.noted = []
    report.items.extend(made.findings)
    stages.timings.update(made.stages[0])
    stages.memory.update(made.stages[1])
    stages._start = made.stages[2]   # (the clock is the system's: this stage began there)
    made.cluster = snapshot.under(cluster_config, made.cluster)
    markup.reconverting(made.cluster, cluster_config.root)
    return made


def build(project: Path, out: Path, only: tuple[str, ...] = (), drafts: bool = False,
          strict: bool = False, now: datetime | None = None, jobs: int | None = None,
          keep_going: bool = False, cache: Path | None = None,
          progress: Progress | None = None, keep_model: bool = False) -> BuildResult:
    """`keep_going` writes the output despite errors, which are left in the report: for
    `govsite check`, which builds into a folder of its own to inspect, never for deploying.
    `cache` is a folder kept between builds (govsite.cache); without it everything is redone."""
    progress = progress or _quiet
    project = project.absolute()
    map_large_blocks()
    # Forked first, while this process is small: a cold build's search stage runs there, not
    # in a process that holds (and counts as its own) the whole cluster.
    # The search's modules (numpy's among them) are imported there, and the previous build's
    # digests read, while this one discovers the sources: a fifth of a second each, which an
    # edit's search sent there would take once it had started.
    lean = LeanProcess(preload=(partial(importlib.import_module, "govsite.search.publish"),
                                partial(output.preread, out),
                                partial(_preread_documents, cache))) if jobs != 1 else None
    report = Report(project)
    result = BuildResult(report)
    stages = _Stages(report, strict, keep_going)
    store = Cache(cache)
    # Up to the freeze below, the build makes what lives to its end (sources, pages, bodies)
    # and little garbage: the garbage collector's full collections, which walk every object,
    # are put off (young ones still run). At 100,000 pages a dozen of them, collecting
    # nothing, cost 1.5 s of discovering, parsing and assembling.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1 << 30)
    try:
        # Made first: it checks the output folder before any work, and starts listing the
        # spare tree it will stage into (output.Staging.claim) beside the stages before.
        staging = output.Staging(out, project, report, claim=False)
        model = _model(project, only, report, now or clock(), drafts, stages, store, jobs)
        cluster, bodies = model.cluster, model.bodies
        jobs = jobs or _default_jobs(len(cluster.pages))
        # Converted, the edited pages' Markdown is not read again (a cold build's pages are
        # held without it: see _model; a kept model's were kept without it).
        for key in model.edited or ():
            object.__setattr__(cluster.pages[key], "body", None)
        if model.edited is None:
            release_freed_memory()
        # The cluster and its bodies live until the end: moved out of the garbage collector's
        # sight, so its collections stop walking hundreds of thousands of objects again and
        # again (and forked workers stop touching, and so copying, their memory).
        gc.freeze()
        gc.set_threshold(*thresholds)
        stages.done("markdown")
        search = search_settings.load(project, tuple(cluster.sites), report)
        stages.done("search settings", stop=False)
        selected = only or tuple(cluster.sites)
        try:
            guard = OutputGuard(cluster)
            # A rebuild whose search stage starts from the previous one's state is the work of
            # one core for a moment (and rendering an edit is another's): both at once. It
            # starts before the staging folder is claimed (a pass over every file of the
            # previous build but one), which it needs only once it writes: an edit's (the
            # model patched) in the lean process, another's in a process forked from this one.
            searched = jobs > 1 and store.has(TERM_STATE, "cluster")
            lean_edit = _LeanEditSearch(cluster, bodies, search, selected, jobs, staging, store,
                                        model.documents, lean) \
                if searched and lean is not None and model.edited is not None else None
            _ = staging.previous   # read here, once, not again by the search process forked next
            beside = [_SearchBeside(cluster, bodies, search, selected, jobs, staging, store, report,
                                    model.documents)] if searched and model.edited is None else []
            started: list[_SearchBeside | _LeanEditSearch] = [*beside, *([lean_edit] if lean_edit else [])]
            try:
                claimed = staging.claim()
                for job in started:
                    job.claimed(claimed)
                if only:
                    staging.keep_previous(output.previous_sites(out) - set(selected) - {output.CLUSTER})
                # Otherwise the search stage starts now: a cold build's runs in the lean process
                # while this one renders, each filling the other's idle moments on the cores.
                searching = lean_edit.finish if lean_edit else None if beside else _search(
                    cluster, bodies, search, selected, jobs, staging, store, model.documents,
                    lean if jobs > 1 else None)
                result.pages = _render(Renderer(cluster, bodies, cache), bodies, cluster, selected,
                                       staging, guard, report, jobs, progress,
                                       result.template_seconds, store, model.edited)
                _copy_attachments(cluster, set(selected), staging, report, store)
                stages.done("render")
                if beside:   # its own time, and the peak of any process once it is waited for
                    _write_cluster_files(cluster, staging)   # (while it still works)
                    stages.timings["search, beside render"] = beside[0].finish()
                    stages.memory["search, beside render"] = peak_memory()
                elif searching is not None:
                    searching()
                stages.done("search")
            finally:
                for job in started:
                    job.cancel()
            if not beside:
                _write_cluster_files(cluster, staging)
            guard.report(set(staging.files), report)
            stages.done("write")
            schemes = {urlsplit(s.url).netloc: urlsplit(s.url).scheme for s in cluster.config.sites}
            staging.commit(lambda rel: f"{schemes.get(rel.split('/', 1)[0], 'https')}://{quote_path(rel)}")
        except BaseException:
            if lean is not None:   # stopped first: a search it runs writes into the staging folder
                lean.close(stop=True)
            staging.discard()
            raise
        if not report.errors(strict):
            try:
                # A build of some sites leaves the others' entries unused and out of date: an
                # entry that says what the previous build made of a site must be that build's.
                if store.path is not None:
                    model.keep()
                store.save(sweep=bool(only))
            except OSError as exc:   # the cache only ever saves time: the build stands without it
                report.warning(str(cache), 0, f"the build cache could not be saved: {exc.strerror or exc}",
                               "another build is using it: give each build its own --cache"
                               if isinstance(exc, CacheBusy) else
                               "give --cache a folder govsite may write, or use --no-cache")
    finally:
        if lean is not None:
            lean.close()
        store.close()   # what a failed build kept is rolled back; after a save, nothing to do
        gc.unfreeze()   # collectable again once the build is over (`govsite serve` builds often)
        gc.set_threshold(*thresholds)
    result.files = len(staging.files)
    result.sites = selected
    if keep_model:
        result.model = (cluster, bodies)
    result.timings = stages.timings
    result.memory = stages.memory
    return result


PARALLEL_FROM = 1_000   # pages from which a build uses every core unless told otherwise


def _default_jobs(pages: int) -> int:
    # Forking costs about a tenth of a second per stage: a small cluster is quicker on one core
    # (the example cluster previews a save in 0.3 s instead of 0.5 s). `--jobs` overrides.
    return default_jobs() if pages >= PARALLEL_FROM else 1


# Cache namespace, a Pack per site: each output's path → what it read, its digest and links.
RENDERED = "rendered"
READS = "rendered reads"   # "cluster" → the token of everything those outputs read
# Site id → every output of the site but its assets, as one record (_whole_record): a rebuild
# links a site none of whose outputs read anything that changed without going through them.
WHOLE = "rendered site"
PAGES_PER_TASK = 200   # pages one render task writes: small enough to spread, big enough to batch


@dataclass
class _SiteMade:
    """What one site's outputs were in this build, for its whole-site record."""

    files: list[tuple[str, str, str]] = field(default_factory=list)   # (path, origin, digest)
    reads: set[str] = field(default_factory=set)
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    html: int = 0
    complete: bool = True   # every output but the assets has what it read remembered

    def add(self, rel: str, origin: str, digest: str, entry: dict | None) -> None:
        self.files.append((rel, origin, digest))
        self.html += rel.endswith(".html")
        if entry is None:
            self.complete = False
        else:
            self.reads.update(entry["reads"])
            note_all(self.links, entry["links"], (rel, origin))


def _render(renderer: Renderer, bodies: MutableMapping[str, markup.Body], cluster: Cluster,
            selected: tuple[str, ...], staging: output.Staging, guard: OutputGuard,
            report: Report, jobs: int, progress: Progress, timings: dict[str, float],
            store: Cache, edited: frozenset[str] | None = None) -> int:
    """Every output of the selected sites, written into the staging folder by `jobs` processes.
    A task is a site's home, lists, feeds and the like, or a slice of its pages; each returns
    what it wrote (recorded here, in task order), its problems and its pages' links. Pages
    whose previous copy stands are linked here first, without a task, and so is every output
    of a site none of whose outputs read anything that changed (only its assets are made)."""
    # Outputs that read nothing that has changed are linked from the previous build, if it
    # still holds the very bytes the cache remembers (see Renderer.made).
    previous = staging.previous
    reads: set[str] = set()   # what every output remembered read, for the next compare()
    pages = 0
    whole: set[str] = set()   # the sites linked whole
    tokens: dict[str, str] = {}   # without them, nothing is known unchanged: nothing is reused
    if store.path is not None:
        renderer.keep_reads = True
        stored = store.load(READS, ["cluster"]).get("cluster")
        tokens = orjson.loads(stored) if isinstance(stored, bytes) else {}
        renderer.compare(tokens, edited)
    # (A previous copy gone missing: the site is made as any other.)
    for site_id, record in _standing_sites(renderer, cluster, selected, store) if tokens else ():
        if _link_whole_site(record, site_id, staging):
            reads.update(record["reads"])
            guard.add(record["links"])
            pages += record["html"]
            store.used(WHOLE, site_id)
            store.used_pack(RENDERED, site_id)
            whole.add(site_id)
    packs = store.load_packs(RENDERED, [s for s in selected if s not in whole]) \
        if store.path is not None else {}
    if tokens:
        renderer.reuse = {rel: entry for pack in packs.values() for rel, entry in pack.stored()
                          if previous.get(rel) == entry["sha256"]
                          and "reads" in entry}
    made = {site_id: _SiteMade() for site_id in selected if site_id not in whole}
    # A site's assets are made on every build (they read no page): never in its record.
    assets = {site_id: {output_path(url) for url in renderer.site_asset_urls(cluster.sites[site_id]).values()}
              for site_id in made}
    tasks: list[tuple[str, str, list[str]]] = []   # (site, "site" | "pages" | "assets", keys)
    to_make: list[str] = []
    for site_id in selected:
        if site_id in whole:
            tasks.append((site_id, "assets", []))
            continue
        keys, linked = _link_kept_pages(renderer, cluster, site_id, staging, packs.get(site_id),
                                        report, made[site_id])
        pages += linked
        tasks.append((site_id, "site", []))
        tasks += [(site_id, "pages", keys[i:i + PAGES_PER_TASK]) for i in range(0, len(keys), PAGES_PER_TASK)]
        to_make += keys
    for so_far in made.values():
        reads.update(so_far.reads)
        guard.add(so_far.links)
    # The HTML of cached bodies is read only for the outputs made again, before the processes
    # that make them start (they could not share the cache); a kept model's bodies hold it.
    shown = [key for key in bodies if key.endswith("/")] + to_make
    if isinstance(bodies, snapshot.Chunked):   # (and of those, the ones read back from the cache)
        shown = bodies.hold(shown)
    markup.load_html(bodies, shown, store)

    def render_task(n: int) -> tuple[list[tuple[str, str, str, str]], dict, list, dict, dict]:
        site_id, kind, keys = tasks[n]
        local = Report(report.root)
        renderer.template_seconds, renderer.reads = {}, {}
        written: list[tuple[str, str, str, str]] = []
        links: dict[str, tuple[str, str]] = {}
        remembered: dict[str, dict | None] = {}
        outputs = (_site_outputs(renderer, cluster, site_id, local) if kind == "site" else
                   _guarded(lambda: renderer.site_assets(cluster.sites[site_id]), local)
                   if kind == "assets" else _guarded(lambda: renderer.page_outputs(site_id, keys), local))
        for item in outputs:
            if isinstance(item.data, Reused):
                digest = staging.link_previous(item.rel, item.data.sha256, item.origin, local)
                targets = list(item.data.links)
                if not digest:   # the previous copy went missing: render after all
                    renderer.reuse.pop(item.rel, None)
                    return render_task(n)
            else:
                digest = staging.put(item.rel, item.data, item.origin, local)
                targets = list(guard.links_in(item.rel, item.data, item.origin))
            if not digest:
                continue
            written.append((item.rel, item.site, item.origin, digest))
            note_all(links, targets, (item.rel, item.origin))
            if isinstance(item.data, Reused):
                remembered[item.rel] = None   # the cache holds this very entry: kept as it is
            elif item.rel in renderer.reads:
                remembered[item.rel] = {**renderer.reads[item.rel],
                                        "sha256": digest, "links": sorted(targets)}
        return written, links, local.items, renderer.template_seconds, remembered

    def site_done(site_id: str) -> None:
        """What the cache keeps of a site whose every output is made, kept now: held until
        the end, every site's was 150 MB at 100,000 pages."""
        pack = packs.pop(site_id, None)
        if pack is not None:
            pack.save()
        if site_id in made and store.path is not None:
            store.keep(WHOLE, site_id, _whole_record(renderer, cluster, site_id, made.pop(site_id)))

    # Every selected site has a task, its tasks one run: its last one done, it is made.
    last_task = {site_id: n for n, (site_id, _, _) in enumerate(tasks)}
    # Forking costs more than it saves when little is made again (one edit: a page, its lists).
    workers = jobs if len(to_make) >= PARALLEL_FROM else 1
    for done, (written, links, problems, seconds, remembered) in enumerate(
            ordered_map(render_task, len(tasks), workers), start=1):
        progress("render", done, len(tasks))
        sites = {rel: site for rel, site, _, _ in written}
        for rel, entry in remembered.items():
            pack = packs.get(sites[rel])
            if entry is None:
                entry = renderer.reuse[rel]
                if pack:
                    pack.get(rel)   # the pack holds this very entry: kept as it is
            elif pack:
                pack.put(rel, entry)
            reads.update(entry["reads"])
            remembered[rel] = entry
        for template, spent in seconds.items():
            timings[template] = timings.get(template, 0.0) + spent
        for rel, site, origin, digest in written:
            staging.record(rel, site, origin, digest)
            pages += rel.endswith(".html")
            if site in made and rel not in assets[site]:
                made[site].add(rel, origin, digest, remembered.get(rel))
        guard.add(links)
        report.items.extend(problems)
        if last_task[tasks[done - 1][0]] == done - 1:
            site_done(tasks[done - 1][0])
    if store.path is not None:
        store.keep(READS, "cluster", orjson.dumps(renderer.tokens(reads)))
    return pages


def _standing_sites(renderer: Renderer, cluster: Cluster, selected: tuple[str, ...],
                    store: Cache) -> Iterator[tuple[str, dict]]:
    """The selected sites whose every output (but the assets) stands as the previous build
    made it, with their records (same base, no read changed): read one at a time, and let go
    of once linked. Every site's, read at once and held through rendering, put a rebuild's
    peak at 100,000 pages 18 MB higher (403 MB instead of 385)."""
    for site_id in selected:
        record = unpickled(store.load(WHOLE, [site_id]).get(site_id))
        if not isinstance(record, dict):
            continue
        site = cluster.sites[site_id]
        # A page added to the site or gone from it is a read that changed: its sitemap's.
        if renderer.stands(site, record["base"], record["reads"]):
            yield site_id, record


def _link_whole_site(record: dict, site_id: str, staging: output.Staging) -> bool:
    """Link and record every file of a standing site, each where the staging folder holds it
    already or from the previous build; False (nothing recorded) when a copy is missing."""
    files, held, previous = record["files"], staging.held, staging.previous
    for rel, origin, sha in files:
        if held.get(rel) != sha and (previous.get(rel) != sha
                                     or not staging.link_previous(rel, sha, origin)):
            return False
    staging.record_all(site_id, files)
    return True


def _whole_record(renderer: Renderer, cluster: Cluster, site_id: str, made: _SiteMade) -> bytes:
    """A site's outputs as one record for the next build (_standing_sites), or nothing (b"",
    so that an older record is never taken for this build's) when one of its outputs has no
    reads remembered."""
    site = cluster.sites[site_id]
    base = renderer.base(site) if renderer.keep_reads else ""
    if not made.complete or not base:
        return b""
    return pickle.dumps({
        "base": base, "files": made.files, "reads": sorted(made.reads), "links": made.links,
        "html": made.html}, pickle.HIGHEST_PROTOCOL)


def _link_kept_pages(renderer: Renderer, cluster: Cluster, site_id: str,
                     staging: output.Staging, pack: Pack | None, report: Report,
                     made: _SiteMade) -> tuple[list[str], int]:
    """Link the site's pages whose previous copy stands (Renderer.kept_pages), recording each
    as its render task would; returns the pages to make, in the site's order, and how many
    were linked."""
    keys, kept = renderer.kept_pages(site_id)
    missing: list[str] = []
    for key, rel, entry in kept:
        source = source_of(key)   # (the page itself is not read: it is not made)
        digest = staging.link_previous(rel, entry["sha256"], source, report)
        if not digest:   # the previous copy went missing: made after all
            renderer.reuse.pop(rel, None)
            missing.append(key)
            continue
        staging.record(rel, site_id, source, digest)
        if pack:
            pack.get(rel)   # the pack holds this very entry: kept as it is
        made.add(rel, source, digest, entry)
    if missing:   # in the site's order, as a clean build's tasks
        order = {page.key: n for n, page in enumerate(cluster.pages_by_site[site_id])}
        keys = sorted(keys + missing, key=order.__getitem__)
    return keys, len(kept) - len(missing)


SEARCHED = "search"          # cache namespace: the search inputs' key → the files they made
COUNTED = "search counts"    # a document's digest → its counted terms (index.CountCache)
TERM_STATE = "search terms"  # "cluster" → the previous build's index.TermState
SEARCH_SITE = "search site"  # site id → its index, {"key", "files"} (publish.SearchCache.sites)


def _search(cluster: Cluster, bodies: MutableMapping, settings: search_settings.SearchSettings,
            selected: tuple[str, ...], jobs: int, staging: output.Staging, store: Cache,
            basis: DocumentBasis, lean: LeanProcess | None = None) -> Callable[[], None] | None:
    """Every search file. When no indexed document, setting or site changed since the previous
    build, all of them are linked from it; otherwise only the documents not seen before are
    analysed, and only the index files whose content changed are exported (an edit touches a
    few shards of its site's index and the portal's); the others are linked. With `lean`, the
    indexes are made there (_lean_search) when every document's text can be sent along and
    the cache holds no documents counted by an earlier build (there, reading the cache would
    wait until this build saves it: everything is counted, as it would be anyway): started
    now, they are waited for by what this returns. Otherwise they are made before it returns."""
    # What it makes lives to its end (a document per page, their digests, the scores): the
    # collector's full passes over them found nothing and cost half of making the documents.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], 1 << 30)
    try:
        # Imported here, where search runs: numpy and the index code take a tenth of a second
        # to import, which a rebuild beside render pays in its search process only.
        from govsite.search.publish import file_documents, inputs_key, searched_documents
        # Documents sent to a lean process go without their text's start, which is read there
        # from the bodies' spool files: made here, 100,000 of them were 79 MB at once.
        shipping = lean is not None and not store.has(COUNTED)
        docs, digests = searched_documents(cluster, bodies, store, basis, leads=not shipping)
        key = inputs_key(cluster, digests, settings, selected) if digests is not None else ""
        if _linked_whole(key, staging, store):
            return None
        # (Only a lean process is sent the bodies: listing them makes every document, which a
        # rebuild's kept documents (publish.KeptDocs) otherwise put off, 0.5 s at 100,000 pages.)
        bodies_of = {n: doc.body for n, doc in enumerate(docs) if doc.body is not None} \
            if shipping else {}
        shipped = markup.portable(bodies_of.values()) if bodies_of else None
        if lean is None or shipped is None:
            for doc in docs if shipping else ():   # not sent after all
                doc.text = doc.text or (doc.body.lead if doc.body is not None else "")
            _index_documents(cluster, docs, digests, key, settings, selected, jobs, staging, store)
            return None
        heads, spools = shipped
        # The documents in a file, without their bodies (their text stays in the spool files).
        folder = store.path.parent if store.path is not None else None
        docs_file = tempfile.TemporaryFile(prefix="govsite-docs-")  # noqa: SIM115 (closed by finish)
        spill = tempfile.TemporaryFile(prefix="govsite-kept-")  # noqa: SIM115 (closed by finish)
        try:
            filed = file_documents(docs, dict(zip(bodies_of, heads, strict=True)), docs_file)
            del docs, bodies_of, heads
            lean.start(_lean_search, (_sites_only(cluster), filed, digests, key, settings, selected, jobs,
                                      staging.shipped(), folder), [docs_file, *spools, spill])
        except BaseException:
            docs_file.close()
            spill.close()
            raise
    finally:
        gc.set_threshold(*thresholds)

    def finish() -> None:
        with spill, docs_file:
            log, noted, problems = lean.result()
            replay(store, log, spill.fileno())
        _taken_back(staging, noted, problems)
    return finish


def _taken_back(staging: output.Staging, noted: list, problems: list) -> None:
    """What a search in another process wrote and found, recorded and reported here."""
    for rel, site, origin, digest in noted:
        staging.record(rel, site, origin, digest)
    staging.report.items.extend(problems)


def _sites_only(cluster: Cluster, keys: Iterable[str] = ()) -> Cluster:
    """The cluster as the indexes need it (its sites), for a lean process: without its pages
    but those of `keys` (an edit's, whose documents are made there)."""
    keys = [key for key in keys if key in cluster.pages]
    return replace(cluster, pages={key: cluster.pages[key] for key in keys},
                   states={key: cluster.states[key] for key in keys if key in cluster.states},
                   urls={key: cluster.urls[key] for key in keys if key in cluster.urls},
                   column_items={}, interpretations={}, interprets={}, repealed_by={}, policies={},
                   attachments=(), resolver=None)


class _LeanEditSearch:
    """An edit's search stage (the model patched) in the lean process: sent the edited pages'
    documents and the model's bodies (packed), it reads the previous build's documents and
    term state from the cache itself. Forked from this process, which holds the model, the
    search process started at its size (280 MB at 100,000 pages) and took an edit's peak to
    500 MB. It is started once the model is made, before the staging folder is claimed (a
    third of a second here), and makes the documents and their scores meanwhile; what claim()
    found reaches it (claimed()) before it writes. Where the previous documents cannot be
    patched, the search is redone here (finish()). (Nothing of the search is imported here:
    numpy alone took this process a fifth of a second.)"""

    def __init__(self, cluster: Cluster, bodies: MutableMapping,
                 settings: search_settings.SearchSettings, selected: tuple[str, ...], jobs: int,
                 staging: output.Staging, store: Cache, basis: DocumentBasis, lean: LeanProcess):
        self._redo = partial(_search, cluster, bodies, settings, selected, jobs, staging, store, basis)
        self._lean, self._store, self._staging = lean, store, staging
        folder = store.path.parent if store.path is not None else None
        # What claim() found, written to a file, and a byte through a pipe once it is there:
        # the pipe's end there waits for that byte (none: the build stopped before it claimed).
        self._spill = tempfile.TemporaryFile(prefix="govsite-kept-")  # noqa: SIM115 (closed by finish)
        self._claim = tempfile.TemporaryFile(prefix="govsite-claim-")  # noqa: SIM115 (closed by finish)
        waiting, self._told = os.pipe()
        try:
            with open(waiting, "rb") as signal:
                lean.start(_lean_edit_search, (_sites_only(cluster, basis.edited or ()), bodies, settings,
                                               selected, max(1, jobs - 1), basis, staging.shipped(),
                                               folder),
                           [self._spill, self._claim, signal])
        except BaseException:
            self.cancel()
            raise

    def claimed(self, claimed: output.Claimed | None) -> None:
        """Tell it the staging folder is claimed, and what claim() returned."""
        pickle.dump(claimed, self._claim, pickle.HIGHEST_PROTOCOL)
        self._claim.flush()
        os.write(self._told, b"!")
        self._close_told()

    def finish(self) -> None:
        with self._spill, self._claim:
            log, noted, problems, patched = self._lean.result()
            replay(self._store, log, self._spill.fileno())
        if patched:
            _taken_back(self._staging, noted, problems)
        else:
            self._redo()

    def cancel(self) -> None:
        self._close_told()
        self._spill.close()
        self._claim.close()

    def _close_told(self) -> None:
        if self._told >= 0:
            os.close(self._told)
            self._told = -1


def _claim_told(claim: int, told: int) -> output.Claimed | None:
    """(In the lean process.) What the build's claim() returned, once it has written it."""
    with open(told, "rb") as signal:
        if signal.read(1) != b"!":
            raise RuntimeError("the build stopped before it claimed its staging folder")
    with open(claim, "rb") as written:
        written.seek(0)   # (the file's offset is shared with the build, which wrote it)
        return pickle.load(written)


def _preread_documents(cache: Path | None) -> None:
    """(A lean process's preload: publish.preread_documents, imported there.)"""
    from govsite.search.publish import preread_documents
    preread_documents(cache)


def _lean_edit_search(cluster: Cluster, bodies: MutableMapping, settings: search_settings.SearchSettings,
                      selected: tuple[str, ...], jobs: int, basis: DocumentBasis,
                      staging: output.Staging, folder: Path | None, descriptors: list[int]
                      ) -> tuple[list, list, list, bool]:
    """_LeanEditSearch's work, in the lean process (its cluster holds the edited pages
    alone): what the cache is to keep, the files written, the problems, and whether the
    documents could be patched (if not, nothing else)."""
    from govsite.search.index import keyed_documents
    from govsite.search.publish import NotPatched, inputs_key, searched_documents
    spill, claim, told = descriptors
    store = ForkedCache(folder, spill)
    staging = staging.noting(partial(_claim_told, claim, told))   # (see _LeanEditSearch)
    fresh = dict(keyed_documents(cluster, bodies, basis.edited or ()))
    try:
        docs, digests = searched_documents(cluster, bodies, store, basis, fresh=fresh)
    except NotPatched:
        store.close()
        return [], [], [], False
    key = inputs_key(cluster, digests, settings, selected) if digests is not None else ""
    if not _linked_whole(key, staging, store):
        _index_documents(cluster, docs, digests, key, settings, selected, jobs, staging, store)
    store.close()
    return store.log, staging.noted or [], staging.report.items, True


def _lean_search(cluster: Cluster, filed: Any, digests: list[str] | None, key: str,
                 settings: search_settings.SearchSettings, selected: tuple[str, ...], jobs: int,
                 staging: output.Staging, folder: Path | None, descriptors: list[int]) -> tuple[list, list, list]:
    """_index_documents() in a LeanProcess, of the documents in the first file (publish.FiledDocs,
    its bodies in the spool files after it): what the cache is to keep (its log, the values
    in the spill file, the last descriptor), the files written and the problems."""
    from govsite.search.publish import FiledDocs
    docs_file, *spools, spill = descriptors
    store = ForkedCache(folder, spill, reads=False)   # (nothing to read: see _search)
    _index_documents(cluster, FiledDocs(docs_file, filed, spools), digests, key, settings, selected,
                     jobs, staging, store)
    store.close()
    return store.log, staging.noted or [], staging.report.items


def _apart_noting(store: ForkedCache, work: Callable[[], Any]) -> Any:
    """work() in a process of its own (parallel.apart), with what it noted in `store` (a lean
    process's: see _lean_search) carried back here."""
    def noted() -> tuple[Any, Any]:
        return work(), store.carried()

    value, carried = apart(noted)
    store.resume(carried)
    return value


def _linked_whole(key: str, staging: output.Staging, store: Cache) -> bool:
    """Link every search file from the previous build, when it made them from the same inputs
    (`key`) and still holds them all."""
    previous = staging.previous if key else {}
    remembered = store.load(SEARCHED, [key]).get(key) if key else None
    if not remembered or any(previous.get(rel) != sha for rel, (_, _, sha) in remembered.items()):
        return False
    linked = {rel: staging.link_previous(rel, sha, origin) for rel, (_, origin, sha)
              in remembered.items()}
    if not all(linked.values()):
        return False
    for rel, (site, origin, sha) in remembered.items():
        staging.record(rel, site, origin, sha)
    store.used(SEARCHED, key)
    # Unchanged, like everything they describe.
    store.retain(COUNTED, TERM_STATE, SEARCH_SITE)
    return True


def _index_documents(cluster: Cluster, docs: Sequence, digests: list[str] | None, key: str,
                     settings: search_settings.SearchSettings, selected: tuple[str, ...],
                     jobs: int, staging: output.Staging, store: Cache) -> None:
    """Every site's index from the documents, counting those not counted before."""
    from govsite.search.index import CountCache, TermState
    from govsite.search.publish import SearchCache, write_indexes
    previous = staging.previous if key else {}

    def still_there(rel: str, sha: str) -> bool:
        return previous.get(rel) == sha

    cache = None
    if digests is not None:
        # Mapped, not read: the update drops each of its arrays from memory once merged.
        stored = store.load(TERM_STATE, ["cluster"], mapped=True).get("cluster")
        state = TermState.from_bytes(stored) if isinstance(stored, (bytes, mmap.mmap)) else None
        # Which documents the previous build laid over the state (search/overlay.py): without
        # that, what it scored is unknown and everything is counted again.
        overlay = store.load(TERM_STATE, ["overlay"]).get("overlay")
        overlay = orjson.loads(overlay) if isinstance(overlay, bytes) else {}
        if state is not None and overlay.get("state") != state.tag:
            state = None
        counted = set(state.digests) if state else set()
        counts = CountCache(digests, store.load(COUNTED, [d for d in digests if d not in counted]),
                            sink=partial(store.keep, COUNTED), state=state,
                            state_sink=lambda new: store.keep(TERM_STATE, "cluster", new.chunks()),
                            prepare=lambda docs: markup.load_text(
                                (doc.body for doc in docs if doc.body is not None), store),
                            overlaid=dict(overlay.get("documents", [])) if state else {},
                            overlay_sink=lambda tag, laid: store.keep(TERM_STATE, "overlay", orjson.dumps(
                                {"state": tag, "documents": sorted(laid.items())})),
                            lookup=partial(store.load, COUNTED),
                            apart=partial(_apart_noting, store) if isinstance(store, ForkedCache)
                            else None)
        del state, stored
        sites = {}
        for site_id, entry in store.load(SEARCH_SITE, list(cluster.sites)).items():
            there = {name: file for name, file in entry["files"].items() if still_there(file[0], file[2])}
            sites[site_id] = {"key": entry["key"] if len(there) == len(entry["files"]) else "",
                              "files": there}
        cache = SearchCache(counts, sites)
    written = write_indexes(cluster, docs, settings, selected, staging, jobs, cache)
    if written is None:   # a previous copy was gone: export every file again
        assert cache is not None
        cache = SearchCache(cache.counts)   # (counts read back are consumed: recounted)
        written = write_indexes(cluster, docs, settings, selected, staging, jobs, cache)
        assert written is not None
    for rel, (site, origin, digest) in written.items():
        staging.record(rel, site, origin, digest)
    if cache is not None:
        store.keep(SEARCHED, key, written)
        if cache.counts.state_kept:   # overlaid: the state stays as it is, and so do the counts
            store.used(TERM_STATE, "cluster")
            # (kept whole: naming each of 100,000 documents cost more than the edit's search)
            store.retain(COUNTED)
        else:
            for digest in cache.counts.digests:
                store.used(COUNTED, digest)
        for digest in cache.counts.used:
            store.used(COUNTED, digest)
        for site_id, made in cache.sites_made.items():
            if site_id in cache.sites_linked:
                store.used(SEARCH_SITE, site_id)
            elif all(rel in written for rel, _ in made["files"].values()):
                store.keep(SEARCH_SITE, site_id, {"key": made["key"], "files": {
                    name: [rel, content, written[rel][2]] for name, (rel, content) in made["files"].items()}})


class _SearchBeside:
    """The search stage in a forked process while this one renders. It reads the cache through
    a connection of its own and writes its files into the staging folder; what it keeps in the
    cache, records and reports is done here when it is finished."""

    def __init__(self, cluster: Cluster, bodies: MutableMapping, settings: search_settings.SearchSettings,
                 selected: tuple[str, ...], jobs: int, staging: output.Staging, store: Cache,
                 report: Report, basis: DocumentBasis):
        folder = store.path.parent if store.path is not None else None
        self._store, self._staging = store, staging   # (staging.report is the build's report)
        reader, self._writer = multiprocessing.Pipe(duplex=False)
        self._claim: list[output.Claimed | None] = []   # what claim() returned, once it has
        self._spill = tempfile.TemporaryFile(prefix="govsite-kept-")  # noqa: SIM115 (closed by finish/cancel)

        def claimed() -> output.Claimed | None:   # (in the process: from the parent)
            return self._claim[0] if self._claim else reader.recv()

        def work() -> tuple[list, list, list, float]:
            started, problems = time.perf_counter(), len(report.items)
            forked, noting = ForkedCache(folder, self._spill.fileno()), staging.noting(claimed)
            # One core fewer than the build's: rendering has the other.
            _search(cluster, bodies, settings, selected, max(1, jobs - 1), noting, forked, basis)
            forked.close()
            return forked.log, noting.noted or [], report.items[problems:], \
                time.perf_counter() - started

        self._job = Background(work)
        if self._job.forked:
            reader.close()   # (the process's end)

    def claimed(self, claimed: output.Claimed | None) -> None:
        """Tell it the staging folder is claimed, and what claim() returned."""
        self._claim.append(claimed)
        if self._job.forked:
            self._writer.send(claimed)

    def finish(self) -> float:
        """Wait for it, then keep, record and report what it did; returns its own time."""
        log, noted, problems, seconds = self._job.result()
        self._writer.close()
        with self._spill:
            replay(self._store, log, self._spill.fileno())
        _taken_back(self._staging, noted, problems)
        return seconds

    def cancel(self) -> None:
        self._job.cancel()
        self._writer.close()
        self._spill.close()


def _site_outputs(renderer: Renderer, cluster: Cluster, site_id: str, report: Report):
    site = cluster.sites[site_id]
    yield from _guarded(lambda: renderer.site_outputs(site_id), report)
    yield from _guarded(lambda: feeds.site_feeds(renderer, site), report)
    yield from _guarded(lambda: sitemap.sitemaps(renderer, site), report)


def _guarded(generate: Callable[[], Iterable[Output]], report: Report) -> Iterator[Output]:
    """The outputs of one generator until a template error, which is reported at its line."""
    try:
        yield from generate()
    except jinja2.TemplateError as exc:
        _template_error(exc, report)


def _template_error(exc: jinja2.TemplateError, report: Report) -> None:
    """Point at the template line; an undefined name has no line of its own, so find its frame."""
    filename, line = getattr(exc, "filename", None), getattr(exc, "lineno", 0) or 0
    if not filename:
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.endswith((".html", ".xml", ".css", ".svg")):
                filename, line = name, tb.tb_lineno
            tb = tb.tb_next
    report.error(filename or "themes", line, f"template error: {exc.message or exc}",
                 "fix the template, or the site override that replaced it")


# "cluster" → {blob id: SHA-256} of the attachments published: the manifest lists a file by its
# SHA-256 (what a deploy compares), a source is known by its blob id (discover.blob_id).
PUBLISHED_FILES = "published attachments"


def _copy_attachments(cluster: Cluster, selected: set[str], staging: output.Staging,
                      report: Report, store: Cache) -> None:
    """Copy the attachments published pages link to; each one the previous build published
    with these bytes is linked from it, unread (its SHA-256 is known by its blob id)."""
    used = cluster.resolver.used_files
    stored = store.load(PUBLISHED_FILES, ["cluster"]).get("cluster") if store.path else None
    known: dict[str, str] = orjson.loads(stored) if isinstance(stored, bytes) else {}
    published: dict[str, str] = {}
    for attachment in cluster.attachments:
        if attachment.site not in selected:
            continue
        key = f"{attachment.site}/{attachment.rel}"
        if key not in used:
            report.warning(attachment.path, 0, "attachment is not linked from any published page, "
                           "so it is not published", "link it from its page, or delete it")
            continue
        rel = output_path(cluster.resolver.targets[key].url)
        staging.copy(rel, attachment.path, attachment.site, f"content/{key}",
                     known.get(attachment.digest, ""))
        if rel in staging.files:
            published[attachment.digest] = staging.files[rel][2]
    if store.path is None:
        return
    if published == known:
        store.used(PUBLISHED_FILES, "cluster")
    else:
        store.keep(PUBLISHED_FILES, "cluster", orjson.dumps(published))


def _write_cluster_files(cluster: Cluster, staging: output.Staging) -> None:
    for rel, text in sitemap.robots(cluster).items():
        staging.write(rel, text, output.CLUSTER, "sites.yaml")
    assets: set[tuple[str, str]] = {(host_root(s.url), s.theme) for s in cluster.config.sites}
    for root, theme in sorted(assets):
        for name, path in themes.static_files(cluster.config.root, theme).items():
            staging.copy(output_path(f"{root}_assets/{theme}/{name}"), path, output.CLUSTER,
                         f"themes/{theme}/static/{name}")

