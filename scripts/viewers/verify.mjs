// verify.mjs: opens every wprof artifact in the viewer a person would use, offline, and
// checks that the viewer really shows what the run measured. Driven by scripts/verify-artifacts;
// run that, not this file.
//
//   *.svg         inferno flamegraph   -> headless Chromium (rendered, screenshot, frame names)
//   *.trace.json  Chrome trace         -> Chrome DevTools' trace engine + speedscope in Chromium
//   *.dhat.json   dhat heap profile    -> valgrind's dh_view.html in Chromium
//   *.pb(.gz)     pprof protobuf       -> go tool pprof -top
//   *.html        self-contained report -> Chromium
//
// Prints one line per artifact (`ok`, `FAIL` or `SKIP`); everything else goes to stderr.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DH_VIEW = process.env.DH_VIEW || '/usr/libexec/valgrind/dh_view.html';
const SPEEDSCOPE = path.join(HERE, 'node_modules/speedscope/dist/release/index.html');
const VIEWPORT = { width: 1400, height: 900 };
// Span names that enclose an iteration's phases (wprof's Phase::is_whole).
const WHOLES = new Set(['call', 'cold-start', 'request']);
const isWhole = (name) => WHOLES.has(name);
const INSTALL_ALL = `sudo ${path.relative(process.cwd(), path.join(ROOT, 'scripts/install-viewers')) || 'scripts/install-viewers'}`;

// ---------------------------------------------------------------- command line

function parseArgs(argv) {
  const opts = { dirs: [], selfTest: null, allowMissing: false, work: null, pngDir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--dir') opts.dirs.push(path.resolve(val()));
    else if (a === '--self-test') opts.selfTest = path.resolve(val());
    else if (a === '--allow-missing') opts.allowMissing = true;
    else if (a === '--work') opts.work = path.resolve(val());
    else if (a === '--png-dir') opts.pngDir = path.resolve(val());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.work) opts.work = fs.mkdtempSync(path.join(os.tmpdir(), 'wprof-verify.'));
  // Only a screenshot dir of our own making may be tidied away afterwards.
  opts.ownPngDir = !opts.pngDir;
  if (!opts.pngDir) opts.pngDir = path.join(opts.work, 'png');
  fs.mkdirSync(opts.pngDir, { recursive: true });
  return opts;
}

// ---------------------------------------------------------------- viewers on this machine

// Each viewer: how to tell it is there, and the exact command that installs it.
async function findViewers() {
  const mods = {};
  let modsError = null;
  try {
    mods.puppeteer = (await import('puppeteer-core')).default;
    mods.traceEngine = await import('@paulirish/trace_engine/analyze-trace.mjs');
    if (!fs.existsSync(SPEEDSCOPE)) throw new Error(`${SPEEDSCOPE} not found`);
  } catch (e) {
    modsError = e.message.split('\n')[0];
  }
  const goOk = await promisify(execFile)('go', ['version']).then(() => true, () => false);
  const npmCi = `npm ci --prefix ${path.relative(process.cwd(), HERE) || '.'}`;
  const viewers = {
    chromium: { ok: fs.existsSync(CHROMIUM), what: `headless Chromium (${CHROMIUM})`, cmd: 'apt-get install -y chromium' },
    node_modules: { ok: !modsError, what: `puppeteer-core, speedscope, @paulirish/trace_engine (${modsError})`, cmd: npmCi },
    go: { ok: goOk, what: 'go tool pprof', cmd: 'apt-get install -y golang-go' },
    dh_view: { ok: fs.existsSync(DH_VIEW), what: `valgrind's dh_view (${DH_VIEW})`, cmd: 'apt-get install -y valgrind' },
  };
  return { viewers, mods };
}

// Which viewers each kind of artifact needs; an artifact whose viewer is missing is skipped.
const NEEDS = {
  svg: ['chromium', 'node_modules'],
  trace: ['chromium', 'node_modules'],
  dhat: ['chromium', 'node_modules', 'dh_view'],
  pprof: ['go'],
  html: ['chromium', 'node_modules'],
};

// ---------------------------------------------------------------- artifacts

function kindOf(file) {
  const b = path.basename(file);
  if (/\.trace\.json(\.gz)?$/.test(b)) return 'trace';
  if (/\.dhat\.json$/.test(b)) return 'dhat';
  if (/\.pb(\.gz)?$/.test(b)) return 'pprof';
  if (/\.svg$/.test(b)) return 'svg';
  if (/\.html?$/.test(b)) return 'html';
  return null; // run JSON, text report, screenshots: nothing to open
}

function findArtifacts(dir) {
  const out = [];
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) {
        if (ent.name !== 'node_modules' && !ent.name.startsWith('.')) walk(p);
      } else if (ent.isFile() && kindOf(p)) {
        out.push({ file: p, kind: kindOf(p) });
      }
    }
  };
  walk(dir);
  return out;
}

// The run JSON an artifact was written next to: `<scenario>.json` for `<scenario>.trace.json`,
// `<scenario>.svg`, ... Later scenarios may add infixes (`x.alloc.svg`), so strip one dotted
// suffix at a time. Returns the expected names the viewers must show, or null when no run JSON.
function expectationsFor(file) {
  let stem = path.basename(file);
  while (stem.includes('.')) {
    stem = stem.slice(0, stem.lastIndexOf('.'));
    const candidate = path.join(path.dirname(file), `${stem}.json`);
    if (candidate === file || !fs.existsSync(candidate)) continue;
    let run;
    try {
      run = JSON.parse(fs.readFileSync(candidate, 'utf8'));
    } catch {
      continue;
    }
    if (!Array.isArray(run.variants)) continue;
    // A sampler's flamegraph (<stem>.guest.svg, <stem>.host.svg) draws that profile's stacks.
    const sampled = /\.(guest|host)\.svg$/.exec(file);
    if (sampled) {
      const prof = (run.profiles ?? []).find((p) => p.sampler === sampled[1]);
      const top = (prof?.stacks ?? []).slice(0, 5).map((s) => s.frames.split(';'));
      return { runJson: candidate, sampler: sampled[1], stacks: top };
    }
    return {
      runJson: candidate,
      scenario: run.scenario ?? stem,
      variants: run.variants.map((v) => ({ name: v.name, phases: (v.phases ?? []).map((p) => p.phase) })),
      // Trace threads: one per variant, or, where a variant ran on several threads at once
      // (concurrency), one per thread, named "<variant> · thread N".
      tracks: run.variants.flatMap((v) => {
        const phases = (v.phases ?? []).map((p) => p.phase);
        const own = [...new Set((run.timeline ?? []).map((s) => s.track))].filter((t) => t.startsWith(`${v.name} · thread `));
        return (own.length ? own : [v.name]).map((name) => ({ name, phases }));
      }),
      // Counters read over time, and each variant's memory readings as a track of its own
      // (named as wprof's chrome exporter names them).
      counters: [
        ...new Set([
          ...(run.counters ?? []).map((c) => c.name),
          ...run.variants.filter((v) => (v.memory?.points ?? []).length >= 2).map((v) => `rss (KB) (${v.name})`),
        ]),
      ],
    };
  }
  return null;
}

// ---------------------------------------------------------------- browser helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One page per artifact, so that console errors, page errors, failed requests and alert()s are
// attributed to the artifact that caused them.
async function withPage(browser, fn) {
  const page = await browser.newPage();
  await page.setViewport(VIEWPORT);
  const log = { errors: [], warnings: [], logs: [], dialogs: [] };
  page.on('console', (m) => {
    const t = m.text();
    if (m.type() === 'error') log.errors.push(`console error: ${t}`);
    else if (m.type() === 'warn' || m.type() === 'warning') log.warnings.push(t);
    else log.logs.push(t);
  });
  page.on('pageerror', (e) => log.errors.push(`page error: ${e.message.split('\n')[0]}`));
  // Every artifact must open offline: any request that fails (e.g. to a CDN) is an error.
  page.on('requestfailed', (r) => log.errors.push(`request failed: ${r.url().slice(0, 120)} (${r.failure()?.errorText})`));
  page.on('dialog', async (d) => {
    log.dialogs.push(d.message());
    await d.dismiss().catch(() => {});
  });
  try {
    return await fn(page, log);
  } finally {
    await page.close().catch(() => {});
  }
}

// Let the page paint: two animation frames and a little slack for WebGL (speedscope).
async function settle(page, ms = 150) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await sleep(ms);
}

// Decodes a screenshot in the browser (no native image library needed) and summarises its
// pixels: the share that differs from the dominant (background) colour, the share that is
// clearly coloured (flame frames are; white/grey/black UI chrome is not) and the number of
// distinct colours.
async function pixelStats(browser, png) {
  return withPage(browser, (page) =>
    page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      const hist = new Map();
      let colored = 0;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 24) colored++;
        const key = ((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4);
        hist.set(key, (hist.get(key) || 0) + 1);
      }
      const n = d.length / 4;
      const bg = Math.max(...hist.values());
      return { nonBackground: 1 - bg / n, colored: colored / n, colors: hist.size };
    }, Buffer.from(png).toString('base64')),
  );
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;

let pngCounter = 0;
function pngPath(opts, file, suffix) {
  // Self-test dirs all hold files of the same name, so prefix a counter and the parent dir.
  const name = `${String(++pngCounter).padStart(2, '0')}-${path.basename(path.dirname(file))}-${path.basename(file)}${suffix}.png`;
  return path.join(opts.pngDir, name.replace(/[^\w.+-]/g, '_'));
}

// ---------------------------------------------------------------- svg: inferno flamegraph

async function checkSvg(ctx, file) {
  const exp = expectationsFor(file);
  return withPage(ctx.browser, async (page, log) => {
    const problems = [];
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await settle(page);
    const png = pngPath(ctx.opts, file, '');
    await page.screenshot({ path: png });
    const px = await pixelStats(ctx.browser, fs.readFileSync(png));
    if (px.nonBackground < 0.005 || px.colors < 3) problems.push(`blank render (${pct(px.nonBackground)} non-background pixels)`);

    // inferno puts each frame in <g><title>name (value, pct)</title><rect/><text>label</text></g>;
    // the <text> label is emptied or cut ("de..") where the frame is too narrow, so names are
    // read from the <title> (the tooltip and the details line the viewer shows on hover), and
    // geometry from the rendered rect. Which labels were drawn is reported separately.
    const frames = await page.evaluate(() => {
      const root = document.getElementById('frames') || document.documentElement;
      return [...root.querySelectorAll('g')]
        .map((g) => {
          const title = g.querySelector(':scope > title')?.textContent ?? '';
          const rect = g.querySelector(':scope > rect')?.getBoundingClientRect();
          const label = g.querySelector(':scope > text')?.textContent?.trim() ?? '';
          return rect && { name: title.replace(/ \([^()]*\)$/, '').trim(), label, x: rect.x, y: rect.y, w: rect.width, h: rect.height };
        })
        .filter((f) => f && f.name);
    });
    if (!frames.length) problems.push('no named frames');
    const labelled = frames.filter((f) => f.label).length;
    if (frames.length && !labelled) problems.push('no frame labels drawn');

    let detail = `${frames.length} frames, ${labelled} labelled`;
    if (exp?.sampler) {
      // Every frame of the profile's most sampled stacks must be drawn, and be named.
      const names = new Set(frames.map((f) => f.name));
      const missing = [...new Set(exp.stacks.flat())].filter((n) => !names.has(n));
      if (!exp.stacks.length) problems.push(`the run has no ${exp.sampler} stacks`);
      if (missing.length) problems.push(`frames of the top ${exp.sampler} stacks missing: ${missing.slice(0, 5).join(', ')}`);
      detail = `${exp.sampler} sampler: all frames of its top ${exp.stacks.length} stacks found, ${frames.length} frames, ${labelled} labelled`;
    } else if (exp) {
      // Frames must form <scenario>;<variant>;<phase>: a phase frame sits on the row next to
      // its variant's frame and within its width.
      const ys = [...new Set(frames.map((f) => f.y))].sort((a, b) => a - b);
      const row = Math.min(...ys.slice(1).map((y, i) => y - ys[i]));
      const on = (child, parent) =>
        Math.abs(Math.abs(child.y - parent.y) - row) < 0.5 && child.x >= parent.x - 0.5 && child.x + child.w <= parent.x + parent.w + 0.5;
      // A variant drawn on a scale of its own carries its mean in its name: `aot (mean 707 µs)`.
      const named = (n) => frames.filter((f) => f.name === n || f.name.startsWith(`${n} (mean `));
      const missing = [];
      let found = 0;
      for (const v of exp.variants) {
        const vf = named(v.name).filter((f) => named(exp.scenario).some((s) => on(f, s)));
        for (const p of v.phases.filter((p) => !isWhole(p))) {
          if (vf.some((parent) => named(p).some((f) => on(f, parent)))) found++;
          else missing.push(`${exp.scenario};${v.name};${p}`);
        }
      }
      if (missing.length) problems.push(`frame names missing: ${missing.join(', ')}`);
      detail = `${found} phase frames of ${path.basename(exp.runJson)} found, ${frames.length} frames, ${labelled} labelled`;
    }
    problems.push(...log.errors, ...log.dialogs.map((d) => `dialog: ${d}`));
    return { problems, detail, pngs: [png] };
  });
}

// ---------------------------------------------------------------- trace: DevTools engine + speedscope

function readMaybeGzip(file) {
  const buf = fs.readFileSync(file);
  return buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf;
}

async function checkTrace(ctx, file) {
  const exp = expectationsFor(file);
  let json;
  try {
    json = JSON.parse(readMaybeGzip(file).toString('utf8'));
  } catch (e) {
    return { problems: [`not valid JSON (${e.message.split('\n')[0]})`], detail: '' };
  }
  const events = Array.isArray(json) ? json : json?.traceEvents;
  if (!Array.isArray(events)) return { problems: ['no traceEvents array'], detail: '' };

  // Counter tracks (DevTools draws "C" events as a graph per name): every counter the run
  // read must be there, with numbers, more than once.
  const counterProblems = [];
  for (const name of exp?.counters ?? []) {
    const cs = events.filter((e) => e.ph === 'C' && e.name === name);
    if (cs.length < 2) counterProblems.push(`counter "${name}" has ${cs.length} samples`);
    else if (!cs.every((e) => Number.isFinite(e.args?.value))) counterProblems.push(`counter "${name}" has non-numeric values`);
  }
  const counters = exp?.counters?.length ? `; counters: ${exp.counters.join(', ')}` : '';
  // A run with no timed phases (memory) has a trace of counter tracks only, which neither
  // viewer draws: the parse above is the check.
  const countersOnly = exp?.counters?.length && exp.variants.every((v) => !v.phases.length);
  if (countersOnly) {
    const spans = events.filter((e) => e.ph !== 'C' && e.ph !== 'M');
    if (spans.length) counterProblems.push(`${spans.length} events other than counters in a run with no timed phases`);
    return { problems: counterProblems, detail: `counter tracks only${counters}` };
  }
  const te = await checkTraceEngine(ctx, events, exp);
  const ss = await checkSpeedscope(ctx, file, exp);
  return { problems: [...te.problems, ...ss.problems, ...counterProblems], detail: `trace_engine: ${te.detail}; speedscope: ${ss.detail}${counters}`, pngs: ss.pngs };
}

// The Chrome DevTools Performance panel's own model. Its flame chart draws a thread by walking
// the call tree that the engine builds (ThreadAppender#appendNodesAtLevel), so an event that
// did not make it into the tree is never drawn, whatever its timestamps say.
async function checkTraceEngine(ctx, events, exp) {
  const problems = [];
  let parsedTrace;
  try {
    ({ parsedTrace } = await ctx.mods.traceEngine.analyzeEvents(events));
  } catch (e) {
    return { problems: [`trace_engine rejected it: ${e.message.split('\n')[0]}`], detail: 'failed' };
  }
  const renderer = parsedTrace.data.Renderer;
  const threads = [];
  for (const [pid, proc] of renderer.processes) {
    for (const [tid, t] of proc.threads) threads.push({ pid, tid, name: t.name, entries: t.entries });
  }
  const total = threads.reduce((n, t) => n + t.entries.length, 0);
  if (!total) problems.push('trace_engine found no events on any thread');

  const phaseSet = exp ? new Set(exp.variants.flatMap((v) => v.phases.filter((p) => !isWhole(p)))) : null;
  const isPhase = (name) => (phaseSet ? phaseSet.has(name) : !isWhole(name));
  const hasCalls = threads.some((t) => t.entries.some((e) => isWhole(e.name)));
  let dropped = 0, unnested = 0, zero = 0;
  let droppedExample = null;
  for (const t of threads) {
    t.entries.forEach((e, i) => {
      // Spans only: instant events legitimately have no duration.
      if (e.ph === 'X' && !(e.dur > 0)) zero++;
      const node = renderer.entryToNode.get(e);
      if (!node) {
        dropped++;
        if (!droppedExample) {
          // Name the event it was judged to overlap: the one it starts inside of.
          const prev = t.entries.slice(0, i).reverse().find((p) => p.ts <= e.ts && p.ts + (p.dur || 0) > e.ts);
          droppedExample =
            `"${e.name}" ts=${e.ts} dur=${e.dur} on ${t.name ?? `tid ${t.tid}`}` +
            (prev ? ` starts before "${prev.name}" (ts=${prev.ts} dur=${prev.dur}) ends at ${prev.ts + prev.dur}` : '');
        }
      } else if (hasCalls && isPhase(e.name) && !isWhole(node.parent?.entry.name)) {
        unnested++;
      }
    });
  }
  if (dropped) problems.push(`${dropped} of ${total} events left out of DevTools' call tree, so not drawn (e.g. ${droppedExample})`);
  if (unnested) problems.push(`${unnested} phase events not directly inside their whole ("call", "cold-start", "request")`);
  if (zero) problems.push(`${zero} events with zero duration`);

  if (exp) {
    for (const v of exp.tracks) {
      const t = threads.find((th) => th.name === v.name);
      if (!t) {
        problems.push(`no thread named "${v.name}" (threads: ${threads.map((th) => th.name ?? `tid ${th.tid} (unnamed)`).join(', ')})`);
        continue;
      }
      const names = new Set(t.entries.map((e) => e.name));
      const missing = v.phases.filter((p) => !names.has(p));
      if (missing.length) problems.push(`thread "${v.name}" lacks phases: ${missing.join(', ')}`);
    }
  }
  return { problems, detail: `${threads.length} threads, ${total} events` };
}

// speedscope draws names on a WebGL canvas, so the page's text cannot be searched. Instead the
// check asks speedscope for its own model: its Export button serialises the imported profile
// (speedscope's file format: shared.frames + per-thread open/close events). A hook installed
// before the page loads keeps that blob and stops the download.
async function checkSpeedscope(ctx, file, exp) {
  const js = path.join(ctx.opts.work, `speedscope-${crypto.randomBytes(4).toString('hex')}.js`);
  fs.writeFileSync(
    js,
    `speedscope.loadFileFromBase64(${JSON.stringify(path.basename(file))}, ${JSON.stringify(fs.readFileSync(file).toString('base64'))});\n`,
  );
  try {
    return await withPage(ctx.browser, async (page, log) => {
      const problems = [];
      await page.evaluateOnNewDocument(() => {
        window.__wprofExports = [];
        const create = URL.createObjectURL.bind(URL);
        URL.createObjectURL = (obj) => {
          if (obj instanceof Blob && obj.type === 'text/json') window.__wprofExports.push(obj);
          return create(obj);
        };
        const click = HTMLAnchorElement.prototype.click;
        HTMLAnchorElement.prototype.click = function () {
          if (!this.download) click.call(this);
        };
      });
      await page.goto(`${pathToFileURL(SPEEDSCOPE).href}#localProfilePath=${encodeURIComponent(js)}`, { waitUntil: 'load' });
      // speedscope sets the title to "<name> - speedscope" once a profile is imported; failures
      // show up as an alert ("Unrecognized format!") or a "Failed to load format" log line.
      const failed = () => log.dialogs.length || log.errors.length || log.logs.some((l) => l.startsWith('Failed to load format'));
      const deadline = Date.now() + 20000;
      let loaded = false;
      while (!failed() && Date.now() < deadline) {
        if ((await page.title()).endsWith(' - speedscope')) {
          loaded = true;
          break;
        }
        await sleep(50);
      }
      if (!loaded) {
        const why = log.dialogs[0] ?? log.errors[0] ?? log.logs.find((l) => l.startsWith('Failed to load format')) ?? 'timed out';
        return { problems: [`speedscope did not load it (${why})`], detail: 'failed' };
      }

      // Left Heavy merges identical stacks into one flamegraph across the whole width: the most
      // telling picture of the profile, and a fair test of "blank".
      await page.keyboard.press('2');
      await settle(page, 300);
      const png = pngPath(ctx.opts, file, '.speedscope');
      await page.screenshot({ path: png });
      const px = await pixelStats(ctx.browser, fs.readFileSync(png));
      if (px.colored < 0.005) problems.push(`speedscope render is blank (${pct(px.colored)} coloured pixels)`);

      await page.locator('::-p-text(Export)').click();
      await page.waitForFunction(() => window.__wprofExports.length > 0, { timeout: 10000 });
      const exported = JSON.parse(await page.evaluate(() => window.__wprofExports[0].text()));

      // speedscope names a frame `name {args as JSON}` whenever an event has args; the phase is
      // the part before the args.
      const frameNames = exported.shared.frames.map((f) => f.name);
      const base = (i) => frameNames[i].replace(/ \{.*\}$/s, '');
      const phaseSet = exp ? new Set(exp.variants.flatMap((v) => v.phases.filter((p) => !isWhole(p)))) : null;
      let unnested = 0;
      const profiles = exported.profiles.map((p) => {
        const stack = [];
        const seen = new Set();
        for (const ev of p.events ?? []) {
          if (ev.type === 'O') {
            const name = base(ev.frame);
            const isPhase = phaseSet ? phaseSet.has(name) : !isWhole(name);
            if (isPhase && (!stack.length || !isWhole(base(stack.at(-1))))) unnested++;
            stack.push(ev.frame);
            seen.add(name);
          } else if (ev.type === 'C') stack.pop();
        }
        return { name: p.name, seen };
      });
      if (unnested) problems.push(`speedscope nests ${unnested} phase events outside their whole ("call", "cold-start", "request")`);
      // speedscope repairs badly nested input and says so on the console; each repair is a
      // span drawn in the wrong place.
      const repairs = log.warnings.filter((w) => /^ts=.*Tried to end|Tried to end frame|still open at end of profile/.test(w));
      if (repairs.length) problems.push(`speedscope had to repair nesting ${repairs.length} times (e.g. ${repairs[0].slice(0, 160)})`);
      if (exp) {
        for (const v of exp.tracks) {
          // Profile names are "<process> (pid N), <thread> (tid M)" or "<thread> (pid N, tid M)".
          const esc = v.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          const re = new RegExp(`(^|, )${esc} \\((pid \\d+, )?tid \\d+\\)$`);
          const prof = profiles.find((p) => re.test(p.name));
          if (!prof) {
            problems.push(`speedscope has no profile for thread "${v.name}" (profiles: ${profiles.map((p) => p.name).join(' | ')})`);
            continue;
          }
          const missing = v.phases.filter((ph) => !prof.seen.has(ph));
          if (missing.length) problems.push(`speedscope profile "${v.name}" lacks frames: ${missing.join(', ')}`);
        }
      }
      problems.push(...log.errors, ...log.dialogs.map((d) => `dialog: ${d}`));
      const names = new Set(frameNames.map((_, i) => base(i)));
      return { problems, detail: `${profiles.length} profiles, ${frameNames.length} frames (${names.size} names)`, pngs: [png] };
    });
  } finally {
    fs.rmSync(js, { force: true });
  }
}

// ---------------------------------------------------------------- dhat: dh_view

async function checkDhat(ctx, file) {
  return withPage(ctx.browser, async (page, log) => {
    const problems = [];
    await page.goto(pathToFileURL(DH_VIEW).href, { waitUntil: 'load' });
    const input = await page.waitForSelector('input[type=file]');
    await input.uploadFile(file);
    // dh_view titles the page "DHAT Viewer - <file>" as soon as loading starts, and appends
    // " - <sort metric>" only once the tree is displayed; errors are written into a div.error.
    const prefix = `DHAT Viewer - ${path.basename(file)} - `;
    const deadline = Date.now() + 20000;
    let state;
    do {
      await sleep(50);
      state = await page.evaluate(() => ({
        title: document.title,
        text: document.body.innerText,
        error: document.querySelector('.error')?.textContent ?? null,
      }));
    } while (!state.title.startsWith(prefix) && !state.error && !log.errors.length && Date.now() < deadline);
    if (state.error) problems.push(`dh_view: ${state.error.slice(0, 200)}`);
    else if (!state.title.startsWith(prefix)) problems.push(`dh_view did not display it (title "${state.title}")`);
    if (/Loading\.\.\./.test(state.text)) problems.push('dh_view still says Loading...');
    await settle(page);
    const png = pngPath(ctx.opts, file, '');
    await page.screenshot({ path: png, fullPage: false });
    problems.push(...log.errors, ...log.dialogs.map((d) => `dialog: ${d}`));
    // The root program point's "Total:" line sums the whole profile.
    const total = state.text.match(/^\s*Total:\s+([\d,]+ bytes) .*? in ([\d,]+ blocks)/m);
    const pps = (state.text.match(/^\s*(?:[▼▶─└├│ ]\s*)*PP [\d.]+\/\d+/gm) ?? []).length;
    return { problems, detail: `dh_view: ${total ? `${total[1]} in ${total[2]}, ${pps} program points shown` : `"${state.title}"`}`, pngs: [png] };
  });
}

// ---------------------------------------------------------------- pprof: go tool pprof

async function checkPprof(ctx, file) {
  try {
    const { stdout } = await promisify(execFile)('go', ['tool', 'pprof', '-top', file], {
      env: { ...process.env, GOCACHE: ctx.gocache },
      timeout: 60000,
      maxBuffer: 64 << 20,
    });
    const lines = stdout.split('\n');
    const header = lines.findIndex((l) => /^\s*flat\s+flat%\s+sum%\s+cum\s+cum%/.test(l));
    const rows = header < 0 ? [] : lines.slice(header + 1).filter((l) => l.trim());
    const showing = lines.find((l) => l.startsWith('Showing nodes')) ?? '';
    const problems = [];
    if (!rows.length) problems.push('go tool pprof listed no samples');
    if (/ of 0 total/.test(showing)) problems.push('profile total is 0');
    return { problems, detail: `go tool pprof: ${rows.length} rows; ${showing.trim()}` };
  } catch (e) {
    const msg = (e.stderr || e.message || '').split('\n').filter((l) => l.trim() && !/Main binary filename not available/.test(l));
    return { problems: [`go tool pprof failed: ${msg.slice(0, 2).join(' / ')}`], detail: '' };
  }
}

// ---------------------------------------------------------------- html: the self-contained report

async function checkHtml(ctx, file) {
  return withPage(ctx.browser, async (page, log) => {
    const problems = [];
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    await settle(page, 300);
    const text = (await page.evaluate(() => document.body?.innerText ?? '')).trim();
    if (!text) problems.push('body is empty');
    const png = pngPath(ctx.opts, file, '');
    await page.screenshot({ path: png });
    const px = await pixelStats(ctx.browser, fs.readFileSync(png));
    // A report may be mostly text on white, so any visible ink (about a word's worth) will do.
    if (px.nonBackground < 0.0001) problems.push(`blank render (${pct(px.nonBackground)} non-background pixels)`);
    const charts = await page.evaluate(chartLayout);
    problems.push(...charts.problems);
    problems.push(...log.errors, ...log.dialogs.map((d) => `dialog: ${d}`));
    return { problems, detail: `${text.length} chars of text; ${charts.detail}`, pngs: [png] };
  });
}

// Runs in the page: the charts' legends and colours, and tables in <pre>. A legend is an
// HTML `.legend` (wprof's) or an SVG <text> that is only a legend key's name (a legend drawn
// inside the plot); a data mark is an SVG polyline/path/rect in a legend key's colour. No
// legend may cover a data mark, a variant has one colour on the page, and each chart draws
// the colours its legend names.
function chartLayout() {
  const problems = [];
  // The answer first: every run's headline, above its first chart.
  const sections = [...document.querySelectorAll('section[id^="run-"]')];
  if (!sections.length) problems.push('no run section');
  for (const s of sections) {
    const lines = s.querySelectorAll('.headline li');
    if (!lines.length) {
      problems.push(`${s.id}: no headline`);
      continue;
    }
    const fig = s.querySelector('figure');
    const top = s.querySelector('.headline').getBoundingClientRect().bottom;
    if (fig && fig.getBoundingClientRect().top < top) problems.push(`${s.id}: the headline is below a chart`);
  }
  const hex = (c) => {
    if (!c) return '';
    c = c.trim().toLowerCase();
    const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c);
    if (m) return '#' + m.slice(1, 4).map((x) => Number(x).toString(16).padStart(2, '0')).join('');
    return c;
  };
  const keys = [...document.querySelectorAll('.key[data-variant]')];
  const colourOf = new Map();
  for (const k of keys) {
    const sw = k.querySelector('i');
    const c = hex(sw ? getComputedStyle(sw).backgroundColor : '');
    const name = k.dataset.variant;
    if (!colourOf.has(name)) colourOf.set(name, new Set());
    colourOf.get(name).add(c);
  }
  for (const [name, cs] of colourOf) {
    if (cs.size > 1) problems.push(`variant "${name}" has ${cs.size} colours: ${[...cs].join(', ')}`);
  }
  const keyColours = new Set([...colourOf.values()].flatMap((s) => [...s]));
  const marks = [...document.querySelectorAll('svg polyline, svg path, svg rect')].filter(
    (e) => keyColours.has(hex(e.getAttribute('stroke'))) || keyColours.has(hex(e.getAttribute('fill'))),
  );
  // Each chart draws what its legend names.
  for (const fig of document.querySelectorAll('figure')) {
    const drawn = new Set([...fig.querySelectorAll('svg *')].flatMap((e) => [hex(e.getAttribute('stroke')), hex(e.getAttribute('fill'))]));
    for (const k of fig.querySelectorAll('.key[data-variant] i')) {
      const c = hex(getComputedStyle(k).backgroundColor);
      if (!drawn.has(c)) problems.push(`a legend names "${k.parentElement.dataset.variant}" in ${c}, which its chart does not draw`);
    }
  }
  const names = new Set(colourOf.keys());
  const legends = [
    ...document.querySelectorAll('.legend'),
    ...[...document.querySelectorAll('svg text')].filter((t) => names.has(t.textContent.trim())),
  ].map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
  const inside = (r, x, y) => x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
  const overlaps = (r, m) => {
    if (m.tagName === 'polyline') {
      const ctm = m.getScreenCTM();
      const pts = [...m.points].map((p) => new DOMPoint(p.x, p.y).matrixTransform(ctm));
      for (let i = 1; i < pts.length; i++) {
        const [a, b] = [pts[i - 1], pts[i]];
        const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / 2));
        for (let s = 0; s <= steps; s++) {
          if (inside(r, a.x + ((b.x - a.x) * s) / steps, a.y + ((b.y - a.y) * s) / steps)) return true;
        }
      }
      return false;
    }
    const b = m.getBoundingClientRect();
    return b.left < r.right && b.right > r.left && b.top < r.bottom && b.bottom > r.top;
  };
  let covered = 0;
  for (const r of legends) for (const m of marks) if (overlaps(r, m)) covered++;
  if (covered) problems.push(`a legend covers ${covered} data mark(s)`);
  // A table belongs in <table>: a <pre> whose lines fall into columns is one cut off on the right.
  for (const pre of document.querySelectorAll('pre')) {
    const columned = pre.textContent.split('\n').filter((l) => /\S {2,}\S/.test(l) || l.includes('|'));
    if (columned.length >= 3) problems.push(`a table in a <pre> (${columned.length} rows)`);
  }
  return { problems, detail: `${document.querySelectorAll('figure svg').length} charts, ${names.size} variants coloured, ${legends.length} legends, ${marks.length} data marks` };
}

const CHECKS = { svg: checkSvg, trace: checkTrace, dhat: checkDhat, pprof: checkPprof, html: checkHtml };

// ---------------------------------------------------------------- running the checks

async function verifyAll(artifacts, opts, { viewers, mods }) {
  // Say up front which viewers are missing and how to get them; their artifacts are skipped.
  const missing = [...new Set(artifacts.flatMap((a) => NEEDS[a.kind].filter((v) => !viewers[v].ok)))];
  for (const v of missing) {
    console.error(`verify-artifacts: missing viewer: ${viewers[v].what}; install everything with: ${INSTALL_ALL}  (or just: ${viewers[v].cmd})`);
  }
  const needsBrowser = artifacts.some((a) => NEEDS[a.kind].every((v) => viewers[v].ok) && NEEDS[a.kind].includes('chromium'));
  const ctx = { opts, mods, browser: null, gocache: fs.mkdtempSync(path.join(opts.work, 'gocache.')) };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wprof-chromium.'));
  const results = [];
  try {
    if (needsBrowser) {
      ctx.browser = await mods.puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        userDataDir,
        protocolTimeout: 60000,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          // speedscope loads its profile from a file:// script next to nothing it can fetch.
          '--allow-file-access-from-files',
          // With --disable-gpu, WebGL (speedscope) runs on SwiftShader; Chromium wants the opt-in.
          '--enable-unsafe-swiftshader',
          `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
        ],
      });
    }
    for (const a of artifacts) {
      const lacking = NEEDS[a.kind].filter((v) => !viewers[v].ok);
      let r;
      if (lacking.length) {
        r = { status: 'SKIP', detail: `needs ${lacking.join(', ')}` };
      } else {
        try {
          const { problems, detail, pngs = [] } = await CHECKS[a.kind](ctx, a.file);
          // Screenshots are worth a look on failure too, so their paths go on every line.
          const shots = pngs.length ? `; png ${pngs.join(', ')}` : '';
          r = problems.length ? { status: 'FAIL', detail: problems.join('; ') + shots } : { status: 'ok', detail: detail + shots };
        } catch (e) {
          r = { status: 'FAIL', detail: `checker crashed: ${e.message.split('\n')[0]}` };
        }
      }
      results.push({ ...a, ...r });
      console.log(`${r.status.padEnd(6)}${a.kind.padEnd(7)}${a.file}  (${r.detail})`);
    }
  } finally {
    await ctx.browser?.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
    fs.rmSync(ctx.gocache, { recursive: true, force: true });
  }
  return results;
}

// ---------------------------------------------------------------- self-test

// Minimal protobuf writer, enough to build a valid pprof profile for the self-test while wprof
// does not write one itself yet.
const varint = (n) => {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
};
const fieldVarint = (f, n) => Buffer.concat([varint((f << 3) | 0), varint(n)]);
const fieldBytes = (f, b) => Buffer.concat([varint((f << 3) | 2), varint(b.length), b]);
const packed = (f, ns) => fieldBytes(f, Buffer.concat(ns.map(varint)));

function fixturePprof() {
  const strings = [''];
  const s = (x) => (strings.includes(x) ? strings.indexOf(x) : strings.push(x) - 1);
  const names = ['hot-path', 'wasm', 'native', 'execute', 'decode'];
  const msg = [
    fieldBytes(1, Buffer.concat([fieldVarint(1, s('cpu')), fieldVarint(2, s('nanoseconds'))])),
    // Samples: leaf first, as pprof wants. location i+1 = function i+1 = names[i].
    ...[[[4, 2, 1], 2400], [[5, 2, 1], 3100], [[4, 3, 1], 1600], [[5, 3, 1], 3000]].map(([locs, v]) =>
      fieldBytes(2, Buffer.concat([packed(1, locs), packed(2, [v])])),
    ),
    ...names.map((_, i) => fieldBytes(4, Buffer.concat([fieldVarint(1, i + 1), fieldBytes(4, Buffer.concat([fieldVarint(1, i + 1), fieldVarint(2, 1)]))]))),
    ...names.map((n, i) => fieldBytes(5, Buffer.concat([fieldVarint(1, i + 1), fieldVarint(2, s(n)), fieldVarint(3, s(n)), fieldVarint(4, s('wprof'))]))),
  ];
  const table = strings.map((x) => fieldBytes(6, Buffer.from(x)));
  return zlib.gzipSync(Buffer.concat([...msg, ...table, fieldVarint(9, Date.now() * 1e6), fieldVarint(10, 1e9)]));
}

// A heap profile in the shape dhat-rs writes (dh_view's file version 2).
const FIXTURE_DHAT = JSON.stringify({
  dhatFileVersion: 2, mode: 'rust-heap', verb: 'Allocated', bklt: true, bkacc: false,
  tu: 'µs', Mtu: 's', tuth: 10, cmd: 'wprof self-test', pid: 1, tg: 900, te: 1000,
  pps: [
    { tb: 4096, tbk: 2, tl: 500, mb: 4096, mbk: 2, gb: 2048, gbk: 1, eb: 0, ebk: 0, fs: [1, 2] },
    { tb: 512, tbk: 8, tl: 100, mb: 128, mbk: 2, gb: 64, gbk: 1, eb: 0, ebk: 0, fs: [3] },
  ],
  ftbl: ['[root]', '0x1: wprof::call::encode (src/call.rs:10:5)', '0x2: wprof::main (src/main.rs:1:1)', '0x3: alloc::vec::Vec::push (vec.rs:1:1)'],
});

const FIXTURE_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>wprof report</title>
<style>body{font-family:sans-serif} .bar{background:#e55;height:12px}</style></head>
<body><h1>wprof hot-path</h1><div class="bar" style="width:60%"></div>
<script>document.body.insertAdjacentHTML('beforeend', '<p>rendered by script</p>');</script></body></html>`;

async function selfTest(goodRun, opts, env) {
  const st = path.join(opts.work, 'self-test');
  fs.rmSync(st, { recursive: true, force: true });
  const cases = []; // { dir, expect: 'ok' | 'FAIL' }
  const mk = (name, files, expect) => {
    const dir = path.join(st, name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [f, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), content);
    cases.push({ dir, expect });
    return dir;
  };

  // Good: what the binary wrote, plus fixtures for artifact kinds it does not write yet.
  const good = path.join(st, 'good');
  fs.cpSync(goodRun, good, { recursive: true });
  cases.push({ dir: good, expect: 'ok' });
  const goodKinds = new Set(findArtifacts(good).map((a) => a.kind));
  const fixtures = {};
  if (!goodKinds.has('dhat')) fixtures['fixture.dhat.json'] = FIXTURE_DHAT;
  if (!goodKinds.has('pprof')) fixtures['fixture.pb.gz'] = fixturePprof();
  if (!goodKinds.has('html')) fixtures['fixture.html'] = FIXTURE_HTML;
  if (Object.keys(fixtures).length) mk('good-fixtures', fixtures, 'ok');

  // Broken copies, each in its own dir next to the run JSON so the expected names are known.
  const trace = findArtifacts(good).find((a) => a.kind === 'trace' && expectationsFor(a.file));
  const svg = findArtifacts(good).find((a) => a.kind === 'svg' && expectationsFor(a.file));
  if (!trace || !svg) throw new Error(`the binary's output in ${goodRun} lacks a trace or svg next to a run JSON`);
  const withRun = (a, content) => ({
    [path.basename(expectationsFor(a.file).runJson)]: fs.readFileSync(expectationsFor(a.file).runJson),
    [path.basename(a.file)]: content,
  });
  const traceText = fs.readFileSync(trace.file, 'utf8');
  const traceJson = JSON.parse(traceText);
  const mapEvents = (f) => JSON.stringify({ ...traceJson, traceEvents: f(traceJson.traceEvents) });
  mk('trace-truncated', withRun(trace, traceText.slice(0, Math.floor(traceText.length / 2))), 'FAIL');
  mk('trace-no-phases', withRun(trace, mapEvents((evs) => evs.filter((e) => e.ph === 'M' || isWhole(e.name)))), 'FAIL');
  mk('trace-zero-durations', withRun(trace, mapEvents((evs) => evs.map((e) => (e.ph === 'X' ? { ...e, dur: 0 } : e)))), 'FAIL');
  mk('svg-empty', withRun(svg, '<svg xmlns="http://www.w3.org/2000/svg"></svg>'), 'FAIL');
  const svgText = fs.readFileSync(svg.file, 'utf8');
  const [head, framesPart = ''] = svgText.split('<svg id="frames"');
  const noNames = head + (framesPart ? '<svg id="frames"' + framesPart.replace(/<title>[^<]*<\/title>/g, '').replace(/(<text[^>]*>)[^<]*(<\/text>)/g, '$1$2') : '');
  mk('svg-no-names', withRun(svg, noNames), 'FAIL');
  mk('dhat-not-json', { 'hot-path.dhat.json': 'this is not a dhat profile\n' }, 'FAIL');
  mk('pprof-garbage', { 'hot-path.pb': crypto.randomBytes(512) }, 'FAIL');
  // The binary's own HTML broken four ways: a legend moved over the lines, a variant given a
  // second colour, its headline gone, a table in a <pre>.
  const html = findArtifacts(good).find((a) => a.kind === 'html' && /hot-path\.html$/.test(a.file)) ?? findArtifacts(good).find((a) => a.kind === 'html');
  if (html) {
    const text = fs.readFileSync(html.file, 'utf8');
    const name = path.basename(html.file);
    const band = '<style>figure{position:relative}.legend{position:absolute;left:0;right:0;top:45%;height:60px;background:#fff}</style></head>';
    mk('html-legend-over-lines', { [name]: text.replace('</head>', band) }, 'FAIL');
    mk('html-colour-changes', { [name]: text.replace(/(data-variant="[^"]*"><i style="background:)#[0-9a-f]{6}/, '$1#123456') }, 'FAIL');
    mk('html-no-headline', { [name]: text.replace(/<div class="headline">.*?<\/div>/s, '') }, 'FAIL');
    mk('html-table-in-pre', { [name]: text.replace('</body>', '<pre>variant  phase    p50\nwasm     execute  4.4 µs\nnative   execute  5.7 µs\n</pre></body>') }, 'FAIL');
  }
  mk('html-script-error', { 'report.html': '<!doctype html><body><p>report</p><script>undefinedFunction()</script></body>' }, 'FAIL');

  const artifacts = cases.flatMap((c) => findArtifacts(c.dir).map((a) => ({ ...a, expect: c.expect })));
  const results = await verifyAll(artifacts, opts, env);
  let passed = 0;
  const unmet = [];
  results.forEach((r, i) => {
    const want = artifacts[i].expect;
    // A skipped artifact proves nothing either way; main() turns skips into exit code 2.
    if (r.status === want) passed++;
    else if (r.status !== 'SKIP') unmet.push(`self-test: expected ${want} but got ${r.status}: ${r.file}`);
  });
  unmet.forEach((u) => console.log(u));
  console.log(`self-test: ${passed} passed, ${unmet.length} failed`);
  return { results, ok: unmet.length === 0 };
}

// ---------------------------------------------------------------- main

// Leave no empty scratch dirs behind when there was nothing to look at.
function removeIfEmpty(...dirs) {
  for (const d of dirs) {
    try {
      fs.rmdirSync(d); // fails, as wanted, unless empty
    } catch {}
  }
}

async function main() {
  const t0 = Date.now();
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`verify.mjs: ${e.message}`);
    return 64;
  }
  const env = await findViewers();
  let results, selfOk = true;
  if (opts.selfTest) {
    ({ results, ok: selfOk } = await selfTest(opts.selfTest, opts, env));
  } else {
    const artifacts = opts.dirs.flatMap((d) => findArtifacts(d));
    if (!artifacts.length) {
      console.error(`verify-artifacts: no artifacts (*.svg, *.trace.json, *.dhat.json, *.pb[.gz], *.html) under ${opts.dirs.join(', ')}`);
      removeIfEmpty(...(opts.ownPngDir ? [opts.pngDir] : []), opts.work);
      return 1;
    }
    results = await verifyAll(artifacts, opts, env);
  }
  const count = (s) => results.filter((r) => r.status === s).length;
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  // In a self-test FAIL lines are mostly expected; its own summary line says what matters.
  const tally = opts.selfTest ? `${count('SKIP')} skipped` : `${count('ok')} ok, ${count('FAIL')} failed, ${count('SKIP')} skipped`;
  console.error(`verify-artifacts: ${tally} in ${secs} s; screenshots in ${opts.pngDir}`);
  removeIfEmpty(...(opts.ownPngDir ? [opts.pngDir] : []), opts.work);
  if (!selfOk) return 1;
  if (!opts.selfTest && count('FAIL')) return 1;
  if (count('SKIP') && !opts.allowMissing) return 2;
  return 0;
}

process.exitCode = await main();
