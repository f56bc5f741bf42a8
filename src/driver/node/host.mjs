// wprof's Node driver: runs a wprof-ABI plugin (plugins/README.md) under
// V8 and speaks the driver protocol v1 (src/driver/child/protocol.rs) on
// stdin/stdout, one JSON object a line. wprof starts it as
// `node --input-type=module -e <this file's text>`, so it must not depend
// on its own path; `node host.mjs` works as well. No npm dependencies.
//
// Everything is synchronous on purpose: requests are read with
// fs.readSync and answered with fs.writeSync, so the event loop never runs
// and nothing (timers, I/O callbacks, microtasks) can interleave with a
// timed loop. Stamps are process.hrtime.bigint(): CLOCK_MONOTONIC in ns,
// the time base wprof's own process shares. The round is wprof's own
// (src/timing/rounds.rs), written again here, as every out-of-process
// driver must: the protocol, not the code, is what drivers share.
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

const PROTOCOL = 1;
const BATCH = 1000; // plain calls between two clock reads (rounds.rs BATCH_CALLS)
const PHASES = ['copy-in', 'execute', 'copy-out', 'free'];
const W = PHASES.length + 1; // stamps a call: one before, one after each phase
const U64_MAX = 0xffffffffffffffffn;
// hrtime.bigint uses no `this`: a plain reference saves a property load a stamp.
const now = process.hrtime.bigint;
// Which 32-bit half of an i64 written to a BigInt64Array is the low word.
const LO = os.endianness() === 'LE' ? 0 : 1;

/** A failure with the phase it happened in: becomes an `error` answer. */
class Fail extends Error {
  constructor(phase, message) {
    super(message);
    this.phase = phase;
  }
}

// Answers are one line: any run of whitespace becomes one space.
const oneLine = (s) => String(s).split(/\s+/).filter(Boolean).join(' ');
const kib = (n) => Math.floor(n / 1024);
const hex = (n) => '0x' + n.toString(16);

/** Any exception as a Fail: a trap keeps the phase it was thrown in, and
 * its message the wasm frames it went through (as wprof's own traps do). */
function asFail(e, phase) {
  if (e instanceof Fail) return e;
  let msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Error && typeof e.stack === 'string') {
    const frames = e.stack.split('\n')
      .filter((l) => l.includes('wasm://') || l.includes('wasm-function'))
      .map((l) => l.trim().replace(/^at /, '').replace(/ \(wasm:\/\/.*\)$/, '').replace(/^wasm:\/\/wasm\/[0-9a-f]+:/, ''));
    if (frames.length) msg += ` (wasm backtrace: ${frames.join(' <- ')})`;
  }
  return new Fail(phase, msg);
}

// --- the deadline ----------------------------------------------------------

// As wprof's own watchdog (src/watchdog.rs): each entry into wasm and each
// exit bumps one shared word (odd while in wasm), two plain stores a call;
// a worker thread that sees the same odd word for longer than the deadline
// says so on stderr (wprof shows the last line) and ends the process, since
// a wasm loop cannot be interrupted from its own thread.
const beat = new Int32Array(new SharedArrayBuffer(4));
// Dynamic imports: an eval'd worker is a module under --input-type=module
// and a script under `node host.mjs`; import() works in both.
const WATCH = `
Promise.all([import('node:worker_threads'), import('node:fs')]).then(([{ workerData: w }, { default: fs }]) => {
  let last = -1, since = Date.now();
  setInterval(() => {
    const v = Atomics.load(w.beat, 0);
    if (v !== last) { last = v; since = Date.now(); return; }
    if ((v & 1) && Date.now() - since >= w.ms) {
      try { fs.writeSync(2, w.plugin + ': a call into wasm ran past the ' + w.ms / 1000 + ' s deadline (--deadline)\\n'); } catch {}
      process.kill(process.pid, 'SIGKILL');
    }
  }, Math.max(10, Math.min(250, w.ms / 4)));
});`;
let watching = false;
function watch(plugin, deadline) {
  if (watching) return;
  const ms = deadline ? Number(deadline.secs ?? 0) * 1000 + Number(deadline.nanos ?? 0) / 1e6 : 10000;
  new Worker(WATCH, { eval: true, workerData: { beat, ms, plugin } }).unref();
  watching = true;
}

// --- requests in, answers out --------------------------------------------

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(sleepCell, 0, 0, ms);
const chunk = Buffer.alloc(1 << 16);
let rest = Buffer.alloc(0); // bytes read past the last line handed out

/** The next line of stdin, or null at its end. Partial reads are stitched
 * together as bytes, so a UTF-8 character split between reads survives. */
function readLine() {
  const parts = [];
  for (;;) {
    if (rest.length === 0) {
      let n;
      try { n = fs.readSync(0, chunk, 0, chunk.length, null); } catch (e) {
        if (e.code === 'EAGAIN') { sleep(1); continue; } // a non-blocking pipe
        if (e.code !== 'EOF') throw e;
        n = 0;
      }
      if (n === 0) return parts.length ? Buffer.concat(parts).toString('utf8') : null;
      rest = Buffer.from(chunk.subarray(0, n)); // a copy: `chunk` is reused
    }
    const nl = rest.indexOf(10);
    if (nl < 0) { parts.push(rest); rest = Buffer.alloc(0); continue; }
    parts.push(rest.subarray(0, nl));
    rest = rest.subarray(nl + 1);
    return Buffer.concat(parts).toString('utf8');
  }
}

function send(line) {
  const b = Buffer.from(line + '\n');
  for (let off = 0; off < b.length;) {
    try { off += fs.writeSync(1, b, off); } catch (e) {
      if (e.code === 'EAGAIN') { sleep(1); continue; }
      if (e.code === 'EPIPE') process.exit(0); // wprof is gone
      throw e;
    }
  }
}

const say = (text) => { try { fs.writeSync(2, `wprof node driver: ${text}\n`); } catch { /* nowhere to say it */ } };
const errorLine = (f) => JSON.stringify({ op: 'error', phase: f.phase, message: oneLine(f.message) });

// --- the plugin ----------------------------------------------------------

/** A module's bytes with a custom section appended: valid wasm with the
 * same meaning but new bytes, which V8's in-process module cache (keyed by
 * the bytes) has not seen, so a cold start really compiles. */
function freshBytes(bytes, counter) {
  const leb = (n) => { const out = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; out.push(b); } while (n); return out; };
  const name = Buffer.from('wprof-cold');
  const payload = Buffer.from(String(counter));
  const body = [...leb(name.length), ...name, ...payload];
  return Buffer.concat([bytes, Buffer.from([0, ...leb(body.length), ...body])]);
}

/** An instance's ABI entry points, and one call split into its phases. */
class Plugin {
  constructor(instance, exportName, input, limits) {
    const ex = instance.exports;
    const fn = (name, params, sig) => {
      if (typeof ex[name] !== 'function') throw new Fail('instantiate', `the module has no exported function \`${name}\``);
      if (ex[name].length !== params) throw new Fail('instantiate', `export \`${name}\` takes ${ex[name].length} parameters, but the wprof ABI needs ${sig}`);
      return ex[name];
    };
    if (!(ex.memory instanceof WebAssembly.Memory)) throw new Fail('instantiate', 'the module has no exported memory `memory`');
    this.memory = ex.memory;
    this.alloc = fn('wprof_alloc', 1, '(i32) -> i32');
    this.wfree = fn('wprof_free', 2, '(i32, i32) -> ()');
    this.f = fn(exportName, 2, '(i32, i32) -> i64');
    this.input = input, this.len = input.length;
    this.outLimit = limits.output_bytes ?? Infinity, this.memLimit = limits.memory_bytes ?? Infinity;
    this.mem = new Uint8Array(this.memory.buffer); // see view()
    // The packed result goes through these to be split without BigInt ops.
    this.packed = new BigInt64Array(1);
    this.halves = new Uint32Array(this.packed.buffer);
    this.out = new Uint8Array(0); // the host's output buffer, grown when too small
    this.outLen = 0, this.optr = 0; // the last output's length, and where it was
  }

  /** Linear memory up to at least `end`, where it reaches that far. The
   * view is made again only when memory grew: growing detaches the old
   * buffer, whose views then have length 0; a shared memory's does not
   * detach but then lies short of `end`. */
  view(end) {
    if (this.mem.length < end || this.mem.length === 0) this.mem = new Uint8Array(this.memory.buffer);
    return this.mem;
  }

  copyIn() {
    const ptr = this.alloc(this.len) >>> 0;
    const m = this.view(ptr + this.len);
    if (ptr + this.len > m.length) throw new Fail('copy-in', `wprof_alloc(${this.len}) returned ${hex(ptr)}, outside linear memory`);
    m.set(this.input, ptr);
    return ptr;
  }

  copyOut(packed) {
    this.packed[0] = packed;
    const lo = this.halves[LO], ptr = this.halves[1 - LO];
    const len = lo & 0x7fffffff;
    const m = this.view(ptr + len);
    if (ptr + len > m.length) throw new Fail('copy-out', `result at ${hex(ptr)}..+${len} lies outside linear memory (${m.length} bytes)`);
    if (len > this.outLimit) throw new Fail('copy-out', `output of ${len} bytes is over the ${kib(this.outLimit)} KiB output limit`);
    if (lo > 0x7fffffff) throw new Fail('execute', `the plugin returned an error: ${Buffer.from(m.subarray(ptr, ptr + len)).toString('utf8')}`);
    if (len > this.out.length) this.out = new Uint8Array(Math.max(len, 2 * this.out.length));
    this.out.set(m.subarray(ptr, ptr + len));
    this.outLen = len, this.optr = ptr;
  }

  /** One call, stamped into st[o .. o + W). `phase` names where a trap
   * came from; keeping it costs a register move. */
  marked(st, o) {
    let phase = 'copy-in';
    beat[0]++;
    try {
      st[o] = now();
      const ptr = this.copyIn();
      st[o + 1] = now(), phase = 'execute';
      const packed = this.f(ptr, this.len);
      st[o + 2] = now(), phase = 'copy-out';
      this.copyOut(packed);
      st[o + 3] = now(), phase = 'free';
      this.wfree(this.optr, this.outLen);
      st[o + 4] = now();
    } catch (e) { throw asFail(e, phase); } finally { beat[0]++; }
  }

  /** The same call with no clock reads. */
  plain() {
    let phase = 'copy-in';
    beat[0]++;
    try {
      const ptr = this.copyIn();
      phase = 'execute';
      const packed = this.f(ptr, this.len);
      phase = 'copy-out', this.copyOut(packed);
      phase = 'free', this.wfree(this.optr, this.outLen);
    } catch (e) { throw asFail(e, phase); } finally { beat[0]++; }
  }

  output() { return this.out.subarray(0, this.outLen); }

  /** V8 cannot refuse a memory.grow the module allows, so the memory limit
   * is checked after calls instead (never inside a timed loop). */
  checkMemory() {
    const n = this.memory.buffer.byteLength;
    if (n > this.memLimit) throw new Fail('execute', `linear memory limit reached: linear memory is ${kib(n)} KiB, over the ${kib(this.memLimit)} KiB limit (--memory-limit)`);
  }

  /** An untimed call, as warm-ups, cold starts and memory readings make. */
  call() { this.plain(); this.checkMemory(); }
}

/** validate, compile and instantiate `bytes`, each stamped in `t`
 * (t[0] before, t[k] after phase k): a Plugin. */
function load(bytes, exportName, input, limits, t) {
  t[0] = now();
  const valid = WebAssembly.validate(bytes);
  t[1] = now();
  if (!valid) {
    if (bytes.subarray(0, 64).toString('latin1').trimStart().startsWith('(')) {
      throw new Fail('validate', 'the file is WebAssembly text; the Node driver takes binary modules (.wasm)');
    }
    let why = 'not a valid WebAssembly module';
    try { new WebAssembly.Module(bytes); } catch (e) { why = e.message.replace(/^WebAssembly\.Module\(\): /, ''); }
    throw new Fail('validate', why);
  }
  let module;
  try { module = new WebAssembly.Module(bytes); } catch (e) { throw asFail(e, 'compile'); }
  t[2] = now();
  const imports = WebAssembly.Module.imports(module);
  if (imports.length) {
    const names = imports.slice(0, 10).map((i) => `${i.module}.${i.name}`);
    if (imports.length > 10) names.push(`${imports.length - 10} more`);
    throw new Fail('instantiate', `the module imports ${names.join(', ')}, and the wprof ABI supplies no imports`);
  }
  const plugin = instantiate(module, exportName, input, limits);
  t[3] = now();
  return { module, plugin };
}

function instantiate(module, exportName, input, limits) {
  // A start function runs in instantiation: watched as a call is.
  beat[0]++;
  try { return new Plugin(new WebAssembly.Instance(module, {}), exportName, input, limits); } catch (e) { throw asFail(e, 'instantiate'); } finally { beat[0]++; }
}

const phaseTimes = (names, t) => names.map((phase, k) => ({ phase, ns: Number(t[k + 1] - t[k]) }));

// --- the session ---------------------------------------------------------

let s = null; // the open plugin and its recording

function open(req) {
  if (req.protocol !== PROTOCOL) throw new Fail('read', `this driver speaks protocol ${PROTOCOL}, not ${req.protocol}`);
  if (s) throw new Fail('read', 'a plugin is already open');
  const given = req.input ?? {};
  if (typeof given.bytes !== 'string') throw new Fail('encode', 'the Node driver takes its input as bytes (base64), not JSON');
  const input = new Uint8Array(Buffer.from(given.bytes, 'base64'));
  if (input.length > 0x7fffffff) throw new Fail('copy-in', `input of ${input.length} bytes is over 2 GiB`);
  let bytes;
  try { bytes = fs.readFileSync(req.plugin); } catch (e) { throw new Fail('read', `cannot read ${req.plugin}: ${e.message}`); }
  const limits = req.limits ?? {};
  watch(req.plugin, limits.deadline);
  const t = new Array(4);
  const { module, plugin } = load(bytes, req.export, input, limits, t);
  try { plugin.call(); } catch (e) {
    // An export of another result type (i32) hands copy-out a Number.
    if (e.phase !== 'copy-out' || !/BigInt/.test(e.message)) throw e;
    throw new Fail('execute', `export \`${req.export}\` does not return an i64: the wprof ABI needs (i32, i32) -> i64`);
  }
  // Room for every planned instrumented call, written now so that its
  // pages are faulted in here and not in the timed loop.
  const iterations = Math.max(0, Number(req.iterations) || 0);
  s = {
    bytes, module, plugin, input, limits, exportName: req.export,
    output: Buffer.from(plugin.output()), stamps: new BigUint64Array(iterations * W).fill(U64_MAX),
    rows: 0, calls: 1, cold: 0, // instrumented calls recorded, calls on the instance, cold starts
  };
  return JSON.stringify({
    op: 'opened', protocol: PROTOCOL,
    driver: {
      name: 'node (wprof)', engine: `V8 ${process.versions.v8} (Node ${process.version})`,
      compiler: "liftoff+turbofan (V8's tiers: lazy Liftoff, TurboFan tier-up)",
      abi: 'wprof ABI, bytes', process: `child process (pid ${process.pid})`, unseen: [],
    },
    phases: PHASES, setup: phaseTimes(['validate', 'compile', 'instantiate'], t),
    output: s.output.toString('base64'), clock: 'monotonic',
  });
}

/** Unmeasured calls, every other one stamped, so both paths are warm. */
function warmUp(calls) {
  const scratch = new BigUint64Array(W);
  for (let i = 0; i < calls; i++) {
    if (i % 2 === 0) s.plugin.marked(scratch, 0); else s.plugin.plain();
    s.plugin.checkMemory();
  }
  s.calls += calls;
  return '{"op":"ok"}';
}

/** One round, as rounds.rs `round`: `calls` instrumented calls into the
 * next rows and as many plain ones in batches, in the order asked. */
function round(calls, instrumentedFirst) {
  const p = s.plugin;
  const need = (s.rows + calls) * W;
  if (need > s.stamps.length) {
    // Only when more rounds come than were planned: never in the loop below.
    const grown = new BigUint64Array(Math.max(need, 2 * s.stamps.length)).fill(U64_MAX);
    grown.set(s.stamps), s.stamps = grown;
  }
  const st = s.stamps, first = s.rows, timed = [], batches = [];
  for (const instrumented of [instrumentedFirst, !instrumentedFirst]) {
    for (let left = calls; left > 0;) {
      const n = Math.min(left, BATCH);
      left -= n;
      if (instrumented) {
        const end = (s.rows + n) * W;
        for (let o = s.rows * W; o < end; o += W) p.marked(st, o);
        timed.push(n), s.rows += n;
      } else {
        const t0 = now();
        for (let i = 0; i < n; i++) p.plain();
        const t1 = now();
        batches.push(`[${n},${t1 - t0}]`);
      }
    }
  }
  s.calls += 2 * calls;
  p.checkMemory();
  // Stamps as exact decimal integers: a join of a BigUint64Array writes
  // each BigInt in full, where a Number would round above 2^53.
  return `{"op":"round","stamps":[${st.subarray(first * W, s.rows * W).join(',')}],` +
    `"timed_batches":[${timed.join(',')}],"batches":[${batches.join(',')}]}`;
}

/** The clock, as wprof describes its own (src/timing/mod.rs): the median
 * cost of a read over 15 runs of 1000 back-to-back reads, and the median
 * non-zero step between back-to-back reads. */
function clock() {
  // Each read is stored, as a stamp is (V8 drops an unused read's BigInt:
  // Rust's black_box), by one function that is warm before it is timed,
  // and the steps are taken after the reads: work between them would
  // widen them.
  const fill = (a) => { for (let i = 0; i < a.length; i++) a[i] = now(); };
  const sink = new BigUint64Array(1000);
  for (let r = 0; r < 20; r++) fill(sink);
  const costs = [];
  for (let r = 0; r < 15; r++) { const t0 = now(); fill(sink); costs.push(Number(now() - t0) / 1000); }
  costs.sort((a, b) => a - b);
  const reads = new BigUint64Array(10001);
  fill(reads);
  const steps = [];
  for (let i = 1; i < reads.length; i++) if (reads[i] > reads[i - 1]) steps.push(Number(reads[i] - reads[i - 1]));
  steps.sort((a, b) => a - b);
  return JSON.stringify({
    op: 'clock', name: 'monotonic', ns_per_tick: 1.0,
    read_cost_ns: costs[7], resolution_ns: steps.length ? steps[steps.length >> 1] : 0,
  });
}

/** One whole cold start in this process, each phase timed, from new bytes
 * (see freshBytes) to the first call's result. */
function coldStart(way) {
  if (way !== 'split') throw new Fail('instantiate', "the Node driver's cold starts are `split`");
  const bytes = freshBytes(s.bytes, ++s.cold);
  const t = new Array(5);
  const { plugin } = load(bytes, s.exportName, s.input, s.limits, t);
  plugin.plain();
  t[4] = now(), plugin.checkMemory();
  if (!s.output.equals(plugin.output())) throw new Fail('copy-out', "a cold start's first output differs from the open plugin's");
  const phases = phaseTimes(['validate', 'compile', 'instantiate', 'call'], t);
  return JSON.stringify({ op: 'cold_start', ns: Number(t[4] - t[0]), phases });
}

/** A reading of this process's memory, as wprof's MemoryPoint. heap_bytes
 * is V8's heap in use plus `external`, the memory held outside the heap
 * for JS objects (`arrayBuffers` is a part of it, so it is not added
 * again). `external` also counts every live instance's linear memory at
 * its full size, resident or not. pss_bytes is the kernel's, as wprof's
 * own readings take it. */
function reading(label, t0, instances, calls) {
  const kb = (file, key) => {
    let text;
    try { text = fs.readFileSync(file, 'latin1'); } catch { return null; }
    const line = text.split('\n').find((l) => l.startsWith(key));
    return line ? parseInt(line.slice(key.length), 10) * 1024 : null;
  };
  const m = process.memoryUsage();
  return {
    label, t_ns: Number(now() - t0), rss_bytes: m.rss,
    pss_bytes: kb('/proc/self/smaps_rollup', 'Pss:'),
    virtual_bytes: kb('/proc/self/status', 'VmSize:') ?? 0,
    heap_bytes: m.heapUsed + m.external, instances, calls,
  };
}

/** Memory as V8 holds the plugin: the open instance, after `calls` more
 * calls, with the module compiled again, then with `instances` more
 * instances of it, each called once and kept alive. The module is compiled
 * from the same bytes: V8 shares the compiled code, so the instances'
 * readings hold no code of their own, as a host making instances of one
 * module would see. */
function memory(instances, calls) {
  const t0 = now();
  const points = [reading('1 instance', t0, 1, s.calls)];
  for (let i = 0; i < calls; i++) s.plugin.call();
  s.calls += calls;
  points.push(reading('calls', t0, 1, s.calls));
  let module;
  try { module = new WebAssembly.Module(s.bytes); } catch (e) { throw asFail(e, 'compile'); }
  points.push(reading('module', t0, 1, s.calls));
  const kept = [];
  for (let i = 0; i < instances; i++) {
    kept.push(instantiate(module, s.exportName, s.input, s.limits));
    kept[i].call();
  }
  points.push(reading('instances', t0, 1 + instances, s.calls + instances));
  return JSON.stringify({ op: 'memory', points });
}

function handle(req) {
  const op = req && req.op;
  if (op === 'open') return open(req);
  if (op === 'clock') return clock();
  if (!s) throw new Fail('instantiate', `no plugin is open for \`${op}\`: the first request must be \`open\``);
  const count = (v) => Math.max(0, Number(v) || 0);
  switch (op) {
    case 'warm_up': return warmUp(count(req.calls));
    case 'round': return round(count(req.calls), req.instrumented_first !== false);
    case 'cold_start': return coldStart(req.way);
    case 'memory': return memory(count(req.instances), count(req.calls));
    case 'soak': throw new Fail('instantiate', 'the Node driver has no soak');
    default: throw new Fail('instantiate', `unexpected request ${JSON.stringify(op)}`);
  }
}

// wprof stops its children between rounds; Ctrl-C is wprof's to handle.
// (A listener keeps the signal from killing the process; it never runs,
// since the event loop never does.)
process.on('SIGINT', () => {});
for (;;) {
  const line = readLine();
  if (line === null) process.exit(0);
  if (!line.trim()) continue;
  let req, answer;
  try { req = JSON.parse(line); } catch (e) { say(`not a request: ${e.message}`); process.exit(1); }
  if (req && req.op === 'quit') process.exit(0);
  try { answer = handle(req); } catch (e) {
    // A failure that is no call's (a bug here, memory exhausted) is pinned
    // on the request's main phase.
    const phase = ['warm_up', 'round', 'memory'].includes(req && req.op) ? 'execute' : 'instantiate';
    answer = errorLine(asFail(e, phase));
  }
  send(answer);
}
