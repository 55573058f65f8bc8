// The dashboard: index members with data, the selected symbol's bars and forecast fan, live over /ws/realtime.
// It loads with one request for the table (GET /dashboard/summary, whatever the member count) and, refused
// with 429, waits as long as the answer's Retry-After says and asks again.
"use strict";

const HISTORY_BARS = 120;
const RECONNECT_MS = 3000;
const REFRESH_MS = 1000;      // at most one re-read of the chart per second (rate limits)
const MAX_RETRY_AFTER_S = 120;

const state = { rows: new Map(), predictions: new Map(), selected: null, chart: null, series: null, dataStatus: "live", connected: false };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Retry-After in seconds (delta or HTTP date), at least 1, at most MAX_RETRY_AFTER_S
function retryAfterSeconds(response) {
  const header = response.headers.get("Retry-After") || "1";
  const seconds = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Math.min(Math.max(Number.isFinite(seconds) ? seconds : 1, 1), MAX_RETRY_AFTER_S);
}

async function getJson(path, options) {
  for (let refused = false; ; refused = true) {
    const response = await fetch(path, options);
    if (response.status === 429) {
      const seconds = retryAfterSeconds(response);
      setStatus(`rate limited, retrying in ${Math.ceil(seconds)} s…`, "down");
      await sleep(seconds * 1000);
      continue;
    }
    if (refused) showConnection();
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }
}

// the status badge: the store's data status while the WebSocket is open
function showConnection() {
  if (state.connected) setStatus(state.dataStatus, state.dataStatus);
  else setStatus("connecting…", "");
}

function cell(row, name, text, value, className) {
  const td = row.querySelector(`td.${name}`);
  td.textContent = text;
  if (value !== undefined) td.dataset.value = String(value);
  if (className !== undefined) td.className = `${name} ${className}`;
}

function addRow(info) {
  const row = document.createElement("tr");
  row.dataset.symbol = info.symbol;
  row.title = info.name || info.symbol;
  for (const name of ["symbol", "price", "date", "direction", "confidence", "risk"]) {
    const td = document.createElement("td");
    td.className = name;
    if (["price", "confidence"].includes(name)) td.classList.add("num");
    row.appendChild(td);
  }
  row.querySelector("td.symbol").textContent = info.symbol;
  row.addEventListener("click", () => select(info.symbol));
  document.querySelector("#symbols-table tbody").appendChild(row);
  state.rows.set(info.symbol, row);
}

function showPrediction(prediction, flash) {
  const row = state.rows.get(prediction.symbol);
  if (!row) return;
  state.predictions.set(prediction.symbol, prediction);
  cell(row, "price", prediction.current_price.toFixed(2), prediction.current_price, "num");
  const lastBar = prediction.data_as_of;
  cell(row, "date", lastBar, lastBar);
  cell(row, "direction", prediction.direction, prediction.direction, prediction.direction);
  cell(row, "confidence", prediction.confidence.toFixed(3), prediction.confidence, "num");
  cell(row, "risk", prediction.risk_level, prediction.risk_level, `risk-${prediction.risk_level}`);
  if (prediction.stale) {
    const badge = document.createElement("span");
    badge.className = "stale";
    badge.textContent = "stale";
    badge.title = `data as of ${prediction.data_as_of}`;
    row.querySelector("td.date").appendChild(badge);
  }
  if (flash) {
    row.classList.remove("updated");
    void row.offsetWidth;  // restart the highlight animation
    row.classList.add("updated");
  }
  if (prediction.symbol === state.selected) showDetails(prediction);
}

function showDetails(prediction) {
  document.getElementById("model-version").textContent = prediction.model_version;
  const shares = prediction.spectral_analysis;
  const bands = { "band-low": "low_freq_trend", "band-medium": "mid_freq_cycle", "band-high": "high_freq_noise" };
  for (const [id, key] of Object.entries(bands)) {
    const td = document.getElementById(id);
    td.textContent = shares ? `${(100 * shares[key]).toFixed(1)} %` : "–";
    if (shares) td.dataset.value = String(shares[key]);
  }
  const note = document.getElementById("selected-note");
  note.textContent = `${prediction.direction}, confidence ${prediction.confidence.toFixed(3)}, risk ${prediction.risk_level}; ` +
    `predicted price in ${prediction.prediction_horizon} trading days ${prediction.predicted_price.toFixed(2)}` +
    (prediction.stale ? ` (stale: data as of ${prediction.data_as_of})` : "");
}

function createChart() {
  const { createChart, CandlestickSeries, LineSeries, LineStyle } = window.LightweightCharts;
  const chart = createChart(document.getElementById("chart"), {
    autoSize: true, layout: { background: { color: "#ffffff" }, textColor: "#1d2433" },
    rightPriceScale: { borderVisible: false }, timeScale: { borderVisible: false },
  });
  const line = (color, lineStyle, title) => chart.addSeries(LineSeries, {
    color, lineStyle, lineWidth: 2, title, priceLineVisible: false, lastValueVisible: false,
  });
  state.chart = chart;
  state.series = {
    bars: chart.addSeries(CandlestickSeries, { upColor: "#11823b", downColor: "#c0392b", borderVisible: false,
      wickUpColor: "#11823b", wickDownColor: "#c0392b" }),
    upper95: line("#9db7f5", LineStyle.Dotted, "95%"), lower95: line("#9db7f5", LineStyle.Dotted, ""),
    upper50: line("#4c78e0", LineStyle.Dashed, "50%"), lower50: line("#4c78e0", LineStyle.Dashed, ""),
    median: line("#1d3fa8", LineStyle.Solid, "median"),
  };
}

async function drawChart(symbol) {
  const forecast = await getJson(`/forecast/${encodeURIComponent(symbol)}?history=${HISTORY_BARS}`);
  if (symbol !== state.selected) return;
  if (!state.chart) createChart();
  state.series.bars.setData(forecast.bars.map((b) => ({ time: b.date, open: b.open, high: b.high, low: b.low, close: b.close })));
  const origin = { time: forecast.last_date, value: forecast.current_price };
  for (const key of ["median", "upper50", "lower50", "upper95", "lower95"]) {
    const field = { median: "median", upper50: "upper_50", lower50: "lower_50", upper95: "upper_95", lower95: "lower_95" }[key];
    state.series[key].setData([origin, ...forecast.path.map((p) => ({ time: p.date, value: p[field] }))]);
  }
  state.chart.timeScale().fitContent();
  document.getElementById("chart").dataset.lastDate = forecast.last_date;
  document.getElementById("chart").dataset.symbol = forecast.symbol;
  document.getElementById("model-version").textContent = forecast.model_version;
}

// rag_context of /analyze: the window's nearest past situations (any symbol) and what followed them
async function showAnalogues(symbol) {
  const target = document.getElementById("analogues");
  const answer = await getJson("/analyze", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ symbol, include_rag_context: true }) });
  if (symbol !== state.selected) return;
  const rag = answer.rag_context;
  target.replaceChildren();
  if (!rag) {
    target.textContent = "no analogue index for the served version (needs the registry and an index built at export)";
    return;
  }
  const note = document.createElement("p");
  note.className = "note";
  note.textContent = `${rag.k} nearest situations before ${rag.admissible_before} (index of run ${rag.index_run}); ` +
    "realised log returns after each, in %:";
  target.appendChild(note);
  const table = document.createElement("table");
  table.id = "analogues-table";
  const header = table.createTHead().insertRow();
  for (const text of ["symbol", "date", "similarity", "h1", "h5", "h30"]) {
    header.appendChild(document.createElement("th")).textContent = text;
  }
  const body = table.createTBody();
  const percent = (value) => (typeof value === "number" ? (100 * value).toFixed(1) : "–");
  for (const analogue of rag.analogues) {
    const row = body.insertRow();
    row.dataset.symbol = analogue.symbol;
    const cells = [analogue.symbol, analogue.date, analogue.similarity.toFixed(3),
      percent(analogue.returns.h1), percent(analogue.returns.h5), percent(analogue.returns.h30)];
    for (const text of cells) row.insertCell().textContent = text;
  }
  for (const outcome of rag.forecast) {
    const row = body.insertRow();
    row.className = "outcome";
    const cells = [`all ${rag.k}`, `h${outcome.horizon}`, `up ${(100 * outcome.up_fraction).toFixed(0)} %`,
      `mean ${percent(outcome.mean)}`, `median ${percent(outcome.quantiles.q50)}`,
      `90%: ${percent(outcome.quantiles.q05)} .. ${percent(outcome.quantiles.q95)}`];
    for (const text of cells) row.insertCell().textContent = text;
  }
  target.appendChild(table);
}

async function select(symbol) {
  state.selected = symbol;
  for (const [name, row] of state.rows) row.classList.toggle("selected", name === symbol);
  document.getElementById("selected-symbol").textContent = symbol;
  const prediction = state.predictions.get(symbol);
  if (prediction) showDetails(prediction);
  await drawChart(symbol);
  showAnalogues(symbol).catch((error) => {
    document.getElementById("analogues").textContent = `analogues unavailable: ${error.message}`;
  });
}

function setStatus(text, className) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = `status ${className}`;
}

// Calls `task` once, REFRESH_MS after the first request of a burst; requests meanwhile join that call.
function coalesced(task) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; task().catch(report); }, REFRESH_MS);
  };
}

const refreshChart = coalesced(() => drawChart(state.selected));

function subscribe(symbols) {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/realtime`);
  ws.onopen = () => {
    state.connected = true;
    showConnection();
    ws.send(JSON.stringify({ symbols, update_frequency: 3600, include_spectral: true }));
  };
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type !== "prediction") return;
    const previous = state.predictions.get(message.symbol);
    const moved = !previous || previous.current_price !== message.data.current_price
      || previous.timestamp !== message.data.timestamp;
    showPrediction(message.data, moved);
    if (moved && message.symbol === state.selected) refreshChart();
  };
  ws.onclose = () => {
    state.connected = false;
    setStatus("disconnected, retrying…", "down");
    setTimeout(() => subscribe(symbols), RECONNECT_MS);
  };
}

const METRICS = [["directional_accuracy", "direction"], ["mae", "MAE"], ["rmse", "RMSE"], ["r2", "R²"]];
const METRIC_HORIZONS = ["h1", "h5"];

// metrics: {model or baseline: {metric: {h1: .., h5: .., ...}}}, as the training report writes them.
function metricsTable(metrics) {
  const table = document.createElement("table");
  table.id = "metrics-table";
  const header = table.createTHead().insertRow();
  for (const text of ["test", ...METRICS.flatMap(([, label]) => METRIC_HORIZONS.map((h) => `${label} ${h}`))]) {
    header.appendChild(document.createElement("th")).textContent = text;
  }
  const body = table.createTBody();
  for (const [name, scores] of Object.entries(metrics)) {
    if (scores === null || typeof scores !== "object") continue;
    const row = body.insertRow();
    row.dataset.model = name;
    row.insertCell().textContent = name;
    for (const [metric] of METRICS) {
      for (const horizon of METRIC_HORIZONS) {
        const value = scores[metric] ? scores[metric][horizon] : undefined;
        const td = row.insertCell();
        td.className = "num";
        td.textContent = typeof value === "number" ? value.toFixed(4) : "–";
      }
    }
  }
  return table;
}

// var: {model: {level: pooled backtest}}, as the registry records the training report's pooled VaR table.
function varTable(backtests) {
  const table = document.createElement("table");
  table.id = "var-table";
  const header = table.createTHead().insertRow();
  for (const text of ["1-day VaR (test)", "level", "exceptions / days", "Kupiec p", "Christoffersen p", "250-day zones g/y/r"]) {
    header.appendChild(document.createElement("th")).textContent = text;
  }
  const body = table.createTBody();
  const p = (value) => (typeof value === "number" ? value.toPrecision(2) : "–");
  for (const [name, levels] of Object.entries(backtests)) {
    for (const [level, t] of Object.entries(levels)) {
      const row = body.insertRow();
      row.dataset.model = name;
      const cells = [name, `${level}%`, `${t.exceptions} / ${t.days}`, p(t.kupiec.p_value), p(t.independence.p_value),
        `${t.zones.green} / ${t.zones.yellow} / ${t.zones.red}`];
      for (const text of cells) row.insertCell().textContent = text;
    }
  }
  return table;
}

async function showModelMetrics() {
  const target = document.getElementById("model-metrics");
  const schema = await getJson("/openapi.json");
  if (!schema.paths["/models"]) {
    target.textContent = "Test metrics: this gateway publishes none yet (no GET /models); " +
      "see the training report of the run named in the version.";
    return;
  }
  let response = await fetch("/models");
  while (response.status === 429) {
    await sleep(retryAfterSeconds(response) * 1000);
    response = await fetch("/models");
    if (response.status !== 429) showConnection();
  }
  const answer = await response.json();
  if (!response.ok) {
    target.textContent = `Test metrics unavailable: ${answer.detail || response.status}`;
    return;
  }
  const active = answer.active || {};
  target.textContent = `Test metrics beside the baselines (registry: version ${active.version}, run ${active.run}` +
    (active.data_range ? `, data ${active.data_range.first} .. ${active.data_range.last}` : "") + ")" +
    (active.served_model ? `; served network: ${active.served_model.description}` +
      (active.served_model.linear_only ? " (linear only: mgdl = its grade 0)" : "") : "");
  if (active.metrics_test && Object.keys(active.metrics_test).length) target.appendChild(metricsTable(active.metrics_test));
  if (active.var_backtest_test && Object.keys(active.var_backtest_test).length) target.appendChild(varTable(active.var_backtest_test));
}

function report(error) {
  setStatus(`error: ${error.message}`, "down");
}

async function main() {
  const summary = await getJson("/dashboard/summary");
  state.dataStatus = summary.data_status;
  document.getElementById("data-status").textContent = summary.data_status === "historical"
    ? `historical data, newest bar ${summary.newest_bar}`
    : `${summary.data_status}: newest bar ${summary.newest_bar}, exchange's last session ${summary.last_session}`;
  document.getElementById("data-status").className = `note data-${summary.data_status}`;
  document.getElementById("horizon").textContent = String(summary.horizon);
  summary.members.forEach(addRow);
  const tickers = summary.members.map((s) => s.symbol);
  if (tickers.length === 0) {
    document.getElementById("selected-symbol").textContent = "no index member has bars stored";
    return;
  }
  for (const { item } of summary.members) if (item.prediction) showPrediction(item.prediction, false);
  subscribe(tickers);
  const wanted = decodeURIComponent(location.hash.slice(1)).toUpperCase();
  await select(state.rows.has(wanted) ? wanted : tickers[0]);
  await showModelMetrics();
}

document.addEventListener("DOMContentLoaded", () => main().catch(report));
