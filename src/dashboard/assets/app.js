// BPE dashboard page: loads /api/state, then follows /api/events (server-sent events).
// No framework and no build step: plain DOM, uPlot (global, served from node_modules) for charts.

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const short = (a) => (a ? `${a.slice(0, 6)}…${a.slice(-4)}` : '');

const view = {
  snapshot: null,
  history: [], // samples, oldest first
  events: new Map(), // id -> entry
  charts: {},
};

// ------------------------------------------------------------------ formatting

let decimals = 18;
let symbol = 'tokens';

/** wei (decimal string or bigint) -> number of whole tokens (display only). */
function tokens(wei) {
  if (wei === null || wei === undefined) return null;
  const v = BigInt(wei);
  const unit = 10n ** BigInt(decimals);
  return Number(v / unit) + Number(v % unit) / Number(unit);
}

function num(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1000) return x.toLocaleString('en-US', { maximumFractionDigits: 0 });
  if (abs >= 1) return x.toLocaleString('en-US', { maximumFractionDigits: 3 });
  return Number(x.toPrecision(3)).toString();
}

const amount = (wei) => (wei === null || wei === undefined ? '–' : `${num(tokens(wei))} ${symbol}`);
const rate = (wei) => (wei === null || wei === undefined ? '–' : `${num(tokens(wei))} ${symbol}/s`);
const pct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);
const time = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false });

// ------------------------------------------------------------------ rendering

function renderHeader(s) {
  $('[data-testid="chain"]').textContent = `chain ${s.chainId} · block ${s.block} · ${symbol} ${short(s.token.address)}`;
  let inflow = 0n, toSinks = 0n, toBuffer = 0n;
  for (const t of s.taskTypes) {
    inflow += BigInt(t.inflowRate);
    toBuffer += BigInt(t.bufferFlowRate);
    for (const k of t.sinks) toSinks += BigInt(k.flowRate);
  }
  setText('total-inflow', rate(inflow), inflow);
  setText('total-sinks', rate(toSinks), toSinks);
  setText('total-buffer', rate(toBuffer), toBuffer);
  setText('efficiency', pct(s.efficiency), s.efficiency ?? '');
  const err = $('[data-testid="error"]');
  err.hidden = !s.error;
  err.textContent = s.error ? (s.error.startsWith('extra():') ? s.error : `chain read failed: ${s.error}`) : '';
}

function setText(testid, text, raw) {
  const el = $(`[data-testid="${testid}"]`);
  el.textContent = text;
  if (raw !== undefined) el.dataset.value = String(raw);
}

function gauge(t) {
  const level = BigInt(t.bufferLevel);
  const max = BigInt(t.bufferMax);
  const share = max > 0n ? Number((level * 10000n) / max) / 10000 : level > 0n ? 1 : 0;
  const state = t.saturated || share >= 1 ? 'full' : share >= 0.5 ? 'high' : 'ok';
  return `
    <div class="gauge" data-testid="buffer-gauge" data-level="${state}" data-level-wei="${level}" data-max-wei="${max}"
      role="meter" aria-label="escrow buffer of ${esc(t.name)}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.min(100, share * 100).toFixed(1)}">
      <div class="bar"><div class="fill" data-testid="buffer-fill" style="width:${Math.min(100, share * 100).toFixed(2)}%"></div></div>
      <div class="caption">
        <span>escrow buffer <b data-testid="buffer-level">${esc(amount(level))}</b> of ${esc(amount(max))}${t.saturated ? ' · <b class="over">saturated</b>' : ''}</span>
        <span>${(share * 100).toFixed(1)} % · filling ${esc(rate(t.bufferFlowRate))}</span>
      </div>
    </div>`;
}

function sinkRows(t) {
  const total = t.sinks.reduce((s, k) => s + BigInt(k.flowRate), 0n);
  return t.sinks.map((k) => {
    const flow = BigInt(k.flowRate);
    const capRate = BigInt(k.capacityRate);
    const share = total > 0n ? Number((flow * 1000n) / total) / 10 : 0;
    const over = flow > capRate;
    return `<tr data-testid="sink-row" data-address="${k.address}">
      <td class="addr" title="${k.address}">${short(k.address)}${k.connected ? '' : ' <span class="badge off" title="not connected to the pool: its share waits in the pool">unconnected</span>'}</td>
      <td class="num" data-testid="sink-declared">${k.declared ?? '–'}</td>
      <td class="num" data-testid="sink-effective" title="smoothed ${k.smoothed}, allowance ${k.allowance}">${k.effective}<span class="hint"> / ${k.smoothed}</span></td>
      <td class="num" data-testid="sink-backlog">${k.backlog}</td>
      <td class="num" data-testid="sink-units">${k.units}</td>
      <td class="num ${over ? 'over' : ''}" title="${esc(over ? 'more than its capacity is worth: ' + rate(capRate) : 'capacity worth ' + rate(capRate))}"><span class="share" style="width:${Math.round(share * 0.6)}px"></span><span data-testid="sink-flow" data-wei="${flow}">${esc(rate(flow))}</span></td>
      <td class="num" data-testid="sink-price">${esc(amount(k.price))}</td>
    </tr>`;
  }).join('');
}

function renderTaskTypes(s) {
  const root = $('[data-testid="task-types"]');
  if (s.taskTypes.length === 0) {
    root.innerHTML = '<div class="card"><p class="empty" data-testid="no-task-types">no task types yet</p></div>';
    return;
  }
  root.innerHTML = s.taskTypes.map((t) => `
    <article class="card" data-testid="task-type" data-task-type-id="${t.id}" data-name="${esc(t.name)}">
      <header>
        <h2 data-testid="task-type-name">${esc(t.name)}</h2>
        <span class="id" title="${t.id}">${short(t.id)} · pool ${short(t.pool)}</span>
      </header>
      <div class="stats">
        <div class="stat"><span class="label">inflow</span><span class="value" data-testid="inflow" data-wei="${t.inflowRate}">${esc(rate(t.inflowRate))}</span></div>
        <div class="stat"><span class="label">absorbable</span><span class="value" data-testid="absorbable">${esc(rate(t.absorbableRate))}</span></div>
        <div class="stat"><span class="label">base fee / task</span><span class="value" data-testid="base-fee">${esc(amount(t.baseFee))}</span></div>
        <div class="stat"><span class="label">efficiency</span><span class="value" data-testid="task-efficiency">${pct(t.efficiency)}</span></div>
      </div>
      ${gauge(t)}
      <table data-testid="sink-table">
        <thead><tr><th>sink</th><th class="num" title="last revealed capacity (tasks/epoch)">declared</th><th class="num" title="queue-adjusted / smoothed capacity (tasks/epoch)">effective / smoothed</th><th class="num">backlog</th><th class="num">units</th><th class="num">receiving</th><th class="num">price/task</th></tr></thead>
        <tbody>${sinkRows(t)}</tbody>
      </table>
      ${t.sinks.length === 0 ? '<p class="empty">no sinks registered</p>' : ''}
    </article>`).join('');
}

function renderSources(s) {
  const body = $('[data-testid="sources-table"] tbody');
  body.innerHTML = s.sources.map((x) => {
    const badge = x.paused === true ? '<span class="badge paused" data-testid="paused-badge">paused</span>'
      : x.paused === false ? '<span class="badge">streaming</span>'
      : BigInt(x.flowRate) > 0n ? '<span class="badge">streaming</span>' : '<span class="badge unknown">idle</span>';
    return `<tr data-testid="source-row" data-address="${x.address}" data-paused="${x.paused}">
      <td><span class="addr" title="${x.address}">${esc(x.name ?? short(x.address))}</span>${x.name ? ` <span class="addr hint">${short(x.address)}</span>` : ''}</td>
      <td>${esc(x.taskTypeName ?? '–')}</td>
      <td class="num" data-testid="source-flow" data-wei="${x.flowRate}">${esc(rate(x.flowRate))}</td>
      <td class="num">${x.requestedRate === null ? '–' : esc(rate(x.requestedRate))}</td>
      <td data-testid="source-state">${badge}</td>
    </tr>`;
  }).join('');
  $('[data-testid="sources-empty"]').hidden = s.sources.length > 0;
}

function addEvents(list) {
  for (const e of list) view.events.set(e.id, e);
  if (view.events.size > 300) {
    const sorted = [...view.events.values()].sort((a, b) => a.time - b.time);
    for (const e of sorted.slice(0, view.events.size - 300)) view.events.delete(e.id);
  }
}

function renderLog() {
  const logIndex = (e) => (e.origin === 'chain' ? Number(e.id.split('-')[1]) : 0);
  const items = [...view.events.values()].sort((a, b) => b.time - a.time || (b.block ?? 0) - (a.block ?? 0) || logIndex(b) - logIndex(a));
  $('[data-testid="event-log"]').innerHTML = items.map((e) => `
    <li data-testid="event" data-id="${esc(e.id)}" data-name="${esc(e.name)}" data-origin="${e.origin}" data-level="${e.level}">
      <span class="time">${time(e.time)}</span><span class="name">${esc(e.name)}</span><span class="text">${esc(e.text)}</span>
    </li>`).join('') || '<li class="empty">no events yet</li>';
}

function renderFooter(s) {
  $('[data-testid="contracts"]').innerHTML = Object.entries(s.contracts)
    .map(([k, a]) => `<span class="addr" title="${a}">${esc(k)} ${short(a)}</span>`).join('');
}

// ------------------------------------------------------------------ charts

// Chart values must be finite; a null leaves a gap.
const finite = (x) => (x === null || !Number.isFinite(x) ? null : x);

function chartData() {
  const h = view.history;
  const t = h.map((x) => x.t);
  return {
    efficiency: [t, h.map((x) => finite(x.efficiency === null ? null : x.efficiency * 100))],
    flow: [t, h.map((x) => finite(tokens(x.inflowRate))), h.map((x) => finite(tokens(x.sinksRate))), h.map((x) => finite(tokens(x.bufferRate)))],
  };
}

// uPlot's tick loop never ends on a y range that is flat or nearly so (uPlot issues #827 and
// #1084; the page's main thread would hang: 1.6.32 does on [1 - 2.4e-7, 1 + 2.4e-7]). The range
// is therefore ours: it always includes 0 and is never narrower than a few float steps of its
// largest value. Exported for the browser test.
export function safeRange(u, min, max) {
  const lo = Math.min(0, Number.isFinite(min) ? min : 0);
  let hi = Math.max(0, Number.isFinite(max) ? max : 0);
  const floor = Math.max(Math.abs(lo), Math.abs(hi)) * 1e-6;
  if (hi - lo <= floor) hi = lo + Math.max(floor, 1e-9) * 10;
  return [lo, hi * 1.05];
}

function makeChart(key, el, series, yLabel, range) {
  const width = Math.max(300, el.clientWidth || 500);
  const opts = {
    width, height: 220,
    legend: { live: false },
    scales: { x: { time: true }, y: { range: range ?? safeRange } },
    axes: [{}, { label: yLabel, size: 70, values: (u, splits) => splits.map((v) => num(v)) }],
    series: [{}, ...series.map((x) => ({ value: (u, v) => (v === null ? '–' : num(v)), ...x }))],
  };
  view.charts[key] = new uPlot(opts, key === 'efficiency' ? chartData().efficiency : chartData().flow, el);
}

function renderCharts() {
  // Two samples at least: uPlot's time axis has no range to draw from one.
  if (typeof uPlot === 'undefined' || view.history.length < 2) return;
  const data = chartData();
  if (!view.charts.efficiency) {
    makeChart('efficiency', $('[data-testid="efficiency-chart"]'),
      [{ label: 'efficiency %', stroke: '#1f9d55', width: 2, fill: 'rgba(31,157,85,.08)' }], '%', [0, 100]);
    makeChart('flow', $('[data-testid="flow-chart"]'), [
      { label: 'inflow', stroke: '#2f6fed', width: 2 },
      { label: 'to sinks', stroke: '#1f9d55', width: 2 },
      { label: 'to buffer', stroke: '#8b5cf6', width: 2 },
    ], `${symbol}/s`);
  } else {
    view.charts.efficiency.setData(data.efficiency);
    view.charts.flow.setData(data.flow);
  }
}

window.addEventListener('resize', () => {
  for (const [key, chart] of Object.entries(view.charts)) {
    const el = $(`[data-testid="${key}-chart"]`);
    chart.setSize({ width: Math.max(300, el.clientWidth), height: 220 });
  }
});

// ------------------------------------------------------------------ data flow

function apply(s, { full }) {
  view.snapshot = s;
  decimals = s.token.decimals;
  symbol = s.token.symbol;
  if (full) view.history = s.history.slice();
  else {
    const last = view.history.at(-1);
    for (const sample of s.history) if (!last || sample.t > last.t) view.history.push(sample);
    if (view.history.length > 600) view.history.splice(0, view.history.length - 600);
  }
  addEvents(s.events);
  schedule({ all: true });
}

// Messages only update `view`; the page is drawn at most once per frame, so a burst of events
// (a batch of receipts logs dozens at once) costs one render, not one per message.
const pending = { frame: false, all: false, log: false };

function schedule({ all = false, log = false }) {
  pending.all ||= all;
  pending.log ||= log;
  if (pending.frame) return;
  pending.frame = true;
  requestAnimationFrame(render);
}

function render() {
  const { all, log } = pending;
  Object.assign(pending, { frame: false, all: false, log: false });
  const s = view.snapshot;
  if (all && s) {
    guarded('header', () => renderHeader(s));
    guarded('task types', () => renderTaskTypes(s));
    guarded('sources', () => renderSources(s));
    guarded('footer', () => renderFooter(s));
    guarded('charts', renderCharts);
    $('[data-testid="flow-unit"]').textContent = `${symbol}/s, all task types`;
    document.body.dataset.block = String(s.block);
    document.body.dataset.updates = String(Number(document.body.dataset.updates ?? 0) + 1);
  }
  if (all || log) guarded('event log', renderLog);
}

// One part failing to draw (bad data, a chart error) must not stop the others.
function guarded(part, draw) {
  try {
    draw();
  } catch (err) {
    console.error(`dashboard: drawing the ${part} failed`, err);
  }
}

function setConnection(state, text) {
  const el = $('[data-testid="connection"]');
  el.dataset.state = state;
  el.textContent = text;
}

async function start() {
  try {
    const res = await fetch('/api/state');
    if (res.ok) apply(await res.json(), { full: true });
  } catch {
    // The event stream below retries by itself.
  }
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('error', () => setConnection('error', 'reconnecting'));
  source.addEventListener('snapshot', (m) => apply(JSON.parse(m.data), { full: false }));
  source.addEventListener('log', (m) => {
    addEvents([JSON.parse(m.data)]);
    schedule({ log: true });
  });
}

start();
