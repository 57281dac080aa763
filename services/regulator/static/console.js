"use strict";
// The regulators' console: draws a checked-in Grafana dashboard (its panels, gridPos, fieldConfig,
// variables, time range and refresh) with Apache ECharts. The browser never sends SQL: it asks the
// server for a panel's rows by uid and panel id with Grafana's URL parameters, and the server expands
// the panel's SQL inside the signed-in regulator's jurisdiction.
(() => {
  const ROW_PX = 30; // Grafana's grid cell height; 24 columns across
  const ALL = "$__all";
  const RANGES = [
    ["now-1h", "now", "过去 1 小时"],
    ["now-6h", "now", "过去 6 小时"],
    ["now-24h", "now", "过去 24 小时"],
    ["now/d", "now/d", "今天"],
    ["now-1d/d", "now-1d/d", "昨天"],
    ["now-7d", "now", "过去 7 天"],
    ["now-30d", "now", "过去 30 天"],
    ["now/M", "now/M", "本月"],
  ];
  const REFRESH = [["", "不自动刷新"], ["30s", "每 30 秒"], ["1m", "每 1 分钟"], ["5m", "每 5 分钟"], ["15m", "每 15 分钟"]];
  // Grafana's named colours, as its theme draws them.
  const COLOURS = {
    green: "#56A64B", "dark-green": "#37872D", "semi-dark-green": "#56A64B", red: "#E02F44", "dark-red": "#C4162A",
    "semi-dark-red": "#E02F44", yellow: "#F2CC0C", "dark-yellow": "#E0B400", orange: "#FF780A", "dark-orange": "#FA6400",
    blue: "#3274D9", "dark-blue": "#1F60C4", purple: "#A352CC", transparent: "transparent", text: "",
  };
  const PALETTE = ["#3274D9", "#56A64B", "#FF780A", "#E02F44", "#A352CC", "#F2CC0C", "#8AB8FF", "#FF9830", "#73BF69"];
  const uid = decodeURIComponent(location.pathname.split("/")[2] || "");
  const state = { session: null, board: null, vars: {}, from: "", to: "", refresh: "", charts: new Map(), timer: 0 };

  const { el, api, notice } = window.tf;

  // URL state: Grafana's own scheme (from, to, var-<name>, refresh) ------------------------------

  function readUrl() {
    const params = new URLSearchParams(location.search);
    const time = state.board.time || { from: "now-24h", to: "now" };
    state.from = params.get("from") || time.from;
    state.to = params.get("to") || time.to;
    state.refresh = params.has("refresh") ? params.get("refresh") : state.board.refresh || "";
    for (const variable of state.board.templating.list) {
      const values = params.getAll("var-" + variable.name).filter((v) => v !== "");
      if (values.length) state.vars[variable.name] = values.map((v) => (v === "All" ? ALL : v));
    }
  }

  function query(extra = {}) {
    const params = new URLSearchParams();
    params.set("from", state.from);
    params.set("to", state.to);
    for (const [name, values] of Object.entries(state.vars)) for (const value of values) params.append("var-" + name, value);
    for (const [name, value] of Object.entries(extra)) params.set(name, value);
    return params;
  }

  function writeUrl() {
    const params = query();
    if (state.refresh) params.set("refresh", state.refresh);
    history.replaceState(null, "", location.pathname + "?" + params.toString());
    renderNav();
    const site = state.vars.site?.[0];
    const link = document.getElementById("site-page");
    link.hidden = uid !== "tongfang-site" || !site;
    if (site) link.href = `/sites/${encodeURIComponent(site)}`;
  }

  // Header: dashboards, who is signed in, time range, refresh -----------------------------------

  function renderNav() {
    // dashboard links keep the time range and the variables (includeVars, keepTime); a site's own is not kept
    const keep = query();
    keep.delete("var-site");
    for (const link of document.querySelectorAll('#boards a[href^="/d/"]')) {
      if (link.getAttribute("aria-current") === "page" && uid === "tongfang-site") continue;
      link.search = keep.toString();
    }
  }

  function renderTimeControls() {
    const range = document.getElementById("range");
    range.replaceChildren();
    let known = false;
    for (const [from, to, label] of RANGES) {
      const selected = from === state.from && to === state.to;
      known = known || selected;
      range.append(el("option", { value: `${from}|${to}`, selected, text: label }));
    }
    if (!known) range.append(el("option", { value: `${state.from}|${state.to}`, selected: true, text: describeRange() }));
    range.onchange = () => {
      [state.from, state.to] = range.value.split("|");
      writeUrl();
      loadPanels();
    };
    const refresh = document.getElementById("refresh");
    refresh.replaceChildren();
    const choices = REFRESH.some(([value]) => value === state.refresh) ? REFRESH : [...REFRESH, [state.refresh, state.refresh]];
    for (const [value, label] of choices) refresh.append(el("option", { value, selected: value === state.refresh, text: label }));
    refresh.onchange = () => {
      state.refresh = refresh.value;
      writeUrl();
      schedule();
    };
    document.getElementById("reload").onclick = () => loadPanels();
  }

  function describeRange() {
    const show = (text) => (/^\d+$/.test(text) ? formatTime(Number(text), "%Y-%m-%d %H:%M") : text);
    return `${show(state.from)} 至 ${show(state.to)}`;
  }

  function schedule() {
    clearInterval(state.timer);
    const match = /^(\d+)([smh])$/.exec(state.refresh || "");
    if (!match) return;
    const ms = Number(match[1]) * { s: 1000, m: 60000, h: 3600000 }[match[2]];
    state.timer = setInterval(() => document.hidden || loadPanels(), Math.max(ms, 5000));
  }

  // Variables: 辖区 (single), 品牌 (multi, All), 网点 (multi/All, or single on a site's page) ------------

  async function loadVariables() {
    const box = document.getElementById("variables");
    box.replaceChildren();
    for (const variable of state.board.templating.list) {
      const params = query();
      const { options } = await api(`/api/dashboards/${encodeURIComponent(uid)}/variables/${variable.name}?${params}`);
      const current = state.vars[variable.name];
      const values = new Set(options.map((o) => o.value));
      if (variable.name === "jurisdiction") {
        const own = state.session.jurisdiction;
        if (!current || !values.has(current[0])) state.vars.jurisdiction = [values.has(own) ? own : options[0]?.value || own];
      } else if (variable.multi) {
        const kept = (current || [ALL]).filter((v) => v === ALL || values.has(v));
        state.vars[variable.name] = kept.length ? kept : [ALL];
      } else if (current && !values.has(current[0])) {
        const error = new Error(`${variable.label || variable.name} ${current[0]} 不在您的辖区内或不存在`);
        error.status = 404;
        throw error;
      } else if (!current) {
        state.vars[variable.name] = options.length ? [options[0].value] : [];
      }
      box.append(variable.multi ? multiSelect(variable, options) : singleSelect(variable, options));
    }
    writeUrl();
  }

  function label(variable) {
    return el("span", { class: "var-label", text: variable.label || variable.name });
  }

  function singleSelect(variable, options) {
    const select = el("select", { "aria-label": variable.label, "data-var": variable.name });
    for (const option of options) {
      select.append(el("option", { value: option.value, selected: option.value === state.vars[variable.name]?.[0], text: option.text }));
    }
    select.onchange = () => changeVariable(variable.name, [select.value]);
    return el("label", { class: "var" }, label(variable), select);
  }

  function multiSelect(variable, options) {
    const chosen = new Set(state.vars[variable.name]);
    const summary = chosen.has(ALL) ? "全部" : [...chosen].join("、");
    const details = el("details", { class: "multi", "data-var": variable.name });
    details.append(el("summary", { text: summary, title: summary }));
    const list = el("div", { class: "multi-list" });
    const box = (value, text) => {
      const input = el("input", { type: "checkbox", value, checked: chosen.has(value) });
      input.onchange = () => {
        let next = new Set(chosen);
        if (value === ALL) next = new Set([ALL]);
        else {
          next.delete(ALL);
          if (input.checked) next.add(value);
          else next.delete(value);
        }
        changeVariable(variable.name, next.size ? [...next] : [ALL]);
      };
      return el("label", {}, input, document.createTextNode(" " + text));
    };
    if (variable.includeAll) list.append(box(ALL, "全部"));
    for (const option of options) list.append(box(option.value, option.text));
    details.append(list);
    return el("div", { class: "var" }, label(variable), details);
  }

  async function changeVariable(name, values) {
    state.vars[name] = values;
    await loadVariables(); // a variable's choices depend on the ones before it (品牌 → 网点)
    loadPanels();
  }

  // Panels --------------------------------------------------------------------------------------

  function layout() {
    const grid = document.getElementById("grid");
    for (const chart of state.charts.values()) chart.dispose();
    state.charts.clear();
    grid.replaceChildren();
    for (const panel of state.board.panels) {
      const { x, y, w, h } = panel.gridPos;
      const section = el(
        "section",
        { class: "panel", "data-panel-id": panel.id, "data-type": panel.type, "data-state": "loading", style: `grid-column:${x + 1} / span ${w};grid-row:${y + 1} / span ${h}` },
        el("h2", { text: panel.title, title: panel.description || "" }),
        el("div", { class: "body" }),
      );
      grid.append(section);
    }
  }

  async function loadPanels() {
    const params = query();
    await Promise.all(
      state.board.panels.map(async (panel) => {
        const section = document.querySelector(`.panel[data-panel-id="${panel.id}"]`);
        const started = performance.now();
        try {
          const data = await api(`/api/dashboards/${encodeURIComponent(uid)}/panels/${panel.id}?${params}`);
          draw(panel, section, data);
          section.dataset.state = data.rows.length ? "ok" : "empty";
        } catch (error) {
          section.dataset.state = "error";
          section.querySelector(".body").replaceChildren(el("p", { class: "error", text: "查询失败：" + error.message }));
        }
        section.dataset.ms = Math.round(performance.now() - started);
      }),
    );
    document.body.dataset.loaded = String(Date.now());
  }

  function draw(panel, section, data) {
    const body = section.querySelector(".body");
    const old = state.charts.get(panel.id);
    if (old) {
      old.dispose();
      state.charts.delete(panel.id);
    }
    body.replaceChildren();
    if (!data.rows.length) {
      body.append(el("p", { class: "no-data", text: panel.fieldConfig?.defaults?.noValue || "无数据" }));
      return;
    }
    if (panel.type === "stat") return drawStat(panel, body, data);
    if (panel.type === "table") return drawTable(panel, body, data);
    const chart = echarts.init(body, null, { renderer: "canvas" });
    state.charts.set(panel.id, chart);
    chart.setOption(panel.type === "geomap" ? mapOption(panel, data) : chartOption(panel, data));
    if (panel.type === "geomap") chart.on("click", (point) => point.data?.site && location.assign(`/sites/${encodeURIComponent(point.data.site)}`));
  }

  function field(panel, column) {
    // fieldConfig.defaults, then the overrides that match this column by name
    const defaults = panel.fieldConfig?.defaults || {};
    const merged = { ...defaults, custom: { ...(defaults.custom || {}) } };
    for (const override of panel.fieldConfig?.overrides || []) {
      if (override.matcher?.id !== "byName" || override.matcher.options !== column) continue;
      for (const property of override.properties || []) merged[property.id] = property.value;
    }
    return merged;
  }

  function isNumber(value) {
    return typeof value === "number" || (typeof value === "string" && value !== "" && !isNaN(Number(value)) && /^-?[\d.]+(e[-+]?\d+)?$/i.test(value));
  }

  function formatValue(value, config) {
    if (value === null || value === undefined || value === "") return config.noValue ?? "";
    if (!isNumber(value)) return String(value);
    const number = Number(value);
    const decimals = (d) => (config.decimals ?? null) !== null ? config.decimals : d;
    switch (config.unit) {
      case "percentunit":
        return (number * 100).toFixed(decimals(number === 1 || number === 0 ? 0 : 1)) + "%";
      case "percent":
        return number.toFixed(decimals(number % 1 ? 1 : 0)) + "%";
      case "s":
        return number >= 3600 ? (number / 3600).toFixed(decimals(1)) + " 小时" : number >= 60 ? (number / 60).toFixed(decimals(1)) + " 分钟" : number.toFixed(decimals(0)) + " 秒";
      case "m":
        return number >= 60 ? (number / 60).toFixed(decimals(1)) + " 小时" : number.toFixed(decimals(0)) + " 分钟";
      default: {
        const d = decimals(Number.isInteger(number) ? 0 : 2);
        return number.toLocaleString("zh-CN", { minimumFractionDigits: d, maximumFractionDigits: d });
      }
    }
  }

  function thresholdColour(value, config) {
    const steps = config.thresholds?.steps;
    if (!steps?.length || !isNumber(value)) return "";
    let colour = steps[0].color;
    for (const step of steps) if (step.value === null || step.value === undefined || Number(value) >= step.value) colour = step.color;
    return COLOURS[colour] ?? colour;
  }

  function drawStat(panel, body, data) {
    // reduceOptions lastNotNull over the first numeric column
    const index = data.columns.findIndex((_, i) => data.rows.some((row) => isNumber(row[i])));
    const values = index < 0 ? [] : data.rows.map((row) => row[index]).filter((v) => v !== null && v !== "");
    const value = values.length ? values[values.length - 1] : null;
    const config = field(panel, data.columns[index]);
    const node = el("div", { class: "stat-value", "data-raw": value ?? "", text: value === null ? config.noValue || "无数据" : formatValue(value, config) });
    const colour = thresholdColour(value, config);
    if (colour) node.style.color = colour;
    body.append(node);
  }

  function drawTable(panel, body, data) {
    const numericColumn = data.columns.map((_, i) => data.rows.every((row) => row[i] === null || isNumber(row[i])));
    const table = el("table", {}, el("thead", {}, el("tr", {}, ...data.columns.map((c, i) => el("th", { class: numericColumn[i] ? "num" : "", text: c })))));
    const tbody = el("tbody");
    for (const row of data.rows) {
      const tr = el("tr");
      row.forEach((value, i) => {
        const config = field(panel, data.columns[i]);
        const text = formatValue(value, config);
        const cell = el("td", { class: isNumber(value) ? "num" : "" });
        const link = config.links?.[0];
        if (link && value !== null && value !== "") cell.append(el("a", { href: linkUrl(link.url, value), title: link.title, text }));
        else cell.textContent = text;
        const colour = thresholdColour(value, config);
        if (colour && config.thresholds?.steps?.length > 1) cell.style.color = colour;
        const mapping = mapped(config, value);
        if (mapping) cell.replaceChildren(el("span", { class: "badge", style: `background:${mapping.colour};color:${mapping.ink}`, text: mapping.text }));
        tr.append(cell);
      });
      tbody.append(tr);
    }
    table.append(tbody);
    body.append(el("div", { class: "table-wrap" }, table));
  }

  function fixedColour(panel, name) {
    // an override's fixed colour for a series or slice of that name (color.mode "fixed")
    const colour = field(panel, name).color;
    return colour?.mode === "fixed" && colour.fixedColor ? { color: COLOURS[colour.fixedColor] ?? colour.fixedColor } : undefined;
  }

  function mapped(config, value) {
    // a value mapping's colour (and text) for this value, as Grafana's ValueMap gives it
    for (const mapping of config.mappings || []) {
      const result = mapping.type === "value" ? mapping.options?.[String(value)] : null;
      if (result) return { colour: COLOURS[result.color] ?? result.color, ink: /yellow/.test(result.color) ? "#1f2328" : "#fff", text: result.text ?? String(value) };
    }
    return null;
  }

  function mapOption(panel, data) {
    // Grafana's geomap markers layer on coordinates, drawn as a scatter of longitude and latitude (no
    // base map: the browser may be offline), coloured by the layer's colour field through its mappings.
    const layer = panel.options?.layers?.[0] || {};
    const lat = data.columns.indexOf(layer.location?.latitude || "latitude");
    const lon = data.columns.indexOf(layer.location?.longitude || "longitude");
    const colourField = layer.config?.style?.color?.field;
    const colourIndex = data.columns.indexOf(colourField);
    const config = field(panel, colourField);
    const groups = new Map();
    for (const row of data.rows) {
      const key = colourIndex >= 0 ? String(row[colourIndex]) : layer.name || "";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push({ value: [Number(row[lon]), Number(row[lat])], site: row[0], name: data.columns.map((c, i) => `${c}：${row[i]}`).join("<br>") });
    }
    return {
      animation: false,
      tooltip: { trigger: "item", formatter: (point) => point.data.name },
      legend: { bottom: 0 },
      grid: { left: 8, right: 8, top: 8, bottom: 32, containLabel: false },
      xAxis: { type: "value", scale: true, show: false },
      yAxis: { type: "value", scale: true, show: false },
      series: [...groups].map(([key, points]) => ({
        name: key, type: "scatter", symbolSize: 12, data: points,
        itemStyle: { color: mapped(config, key)?.colour || undefined, borderColor: "#fff", borderWidth: 1 },
      })),
    };
  }

  function linkUrl(template, value) {
    const range = new URLSearchParams({ from: state.from, to: state.to }).toString();
    return template.replaceAll("${__value.raw}", encodeURIComponent(value)).replaceAll("${__url_time_range}", range);
  }

  function chartOption(panel, data) {
    const base = { color: PALETTE, animation: false, tooltip: { trigger: panel.type === "piechart" ? "item" : "axis" }, textStyle: { fontFamily: "inherit" } };
    const numeric = data.columns.map((_, i) => data.rows.every((row) => row[i] === null || isNumber(row[i])) && data.rows.some((row) => isNumber(row[i])));
    const labelIndex = Math.max(0, numeric.findIndex((n) => !n));
    const valueColumns = data.columns.map((c, i) => i).filter((i) => numeric[i] && i !== labelIndex);
    const number = (v) => (v === null || v === "" ? null : Number(v));
    if (panel.type === "timeseries") {
      const timeIndex = Math.max(0, data.columns.indexOf("time"));
      const spanNulls = panel.fieldConfig?.defaults?.custom?.spanNulls === true;
      const seriesIndex = data.columns.findIndex((_, i) => i !== timeIndex && !numeric[i]);
      if (seriesIndex >= 0) return { ...base, ...longSeries(panel, data, timeIndex, seriesIndex, numeric, spanNulls) };
      return {
        ...base,
        legend: { bottom: 0, type: "scroll" },
        grid: { left: 48, right: 16, top: 16, bottom: 40 },
        xAxis: { type: "time", min: data.from, max: data.to, axisLabel: { hideOverlap: true, formatter: { year: "{yyyy}", month: "{M}月", day: "{MM}-{dd}", hour: "{HH}:{mm}", minute: "{HH}:{mm}" } } },
        yAxis: { type: "value", axisLabel: { formatter: (v) => formatValue(v, field(panel, data.columns[valueColumns[0]])) } },
        series: data.columns
          .map((name, i) => [name, i])
          .filter(([, i]) => i !== timeIndex && numeric[i])
          .map(([name, i]) => ({ name, type: "line", showSymbol: false, connectNulls: spanNulls, data: data.rows.map((row) => [parseTime(row[timeIndex]), number(row[i])]) })),
      };
    }
    const names = data.rows.map((row) => String(row[labelIndex] ?? ""));
    if (panel.type === "piechart") {
      const valueIndex = valueColumns[0];
      return {
        ...base,
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", radius: "62%", center: ["50%", "46%"], label: { formatter: "{b}: {c}" }, data: data.rows.map((row, i) => ({ name: names[i], value: number(row[valueIndex]), itemStyle: fixedColour(panel, names[i]) })) }],
      };
    }
    return {
      ...base,
      legend: valueColumns.length > 1 ? { bottom: 0 } : undefined,
      grid: { left: 48, right: 16, top: 16, bottom: valueColumns.length > 1 ? 56 : 32, containLabel: true },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0, hideOverlap: true } },
      yAxis: { type: "value", axisLabel: { formatter: (v) => formatValue(v, field(panel, data.columns[valueColumns[0]])) } },
      series: valueColumns.map((i) => ({ name: data.columns[i], type: "bar", itemStyle: fixedColour(panel, data.columns[i]), data: data.rows.map((row) => number(row[i])) })),
    };
  }

  function longSeries(panel, data, timeIndex, seriesIndex, numeric, spanNulls) {
    // Grafana turns a long time series (time, name, value) into one series per name.
    const valueIndex = data.columns.findIndex((_, i) => i !== timeIndex && numeric[i]);
    const groups = new Map();
    for (const row of data.rows) {
      const name = String(row[seriesIndex]);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push([parseTime(row[timeIndex]), row[valueIndex] === null ? null : Number(row[valueIndex])]);
    }
    const config = field(panel, data.columns[valueIndex]);
    return {
      legend: { bottom: 0, type: "scroll" },
      grid: { left: 56, right: 16, top: 16, bottom: 40 },
      xAxis: { type: "time", min: data.from, max: data.to, axisLabel: { hideOverlap: true, formatter: { day: "{MM}-{dd}", hour: "{HH}:{mm}" } } },
      yAxis: { type: "value", axisLabel: { formatter: (v) => formatValue(v, config) } },
      tooltip: { trigger: "axis", valueFormatter: (v) => formatValue(v, config) },
      series: [...groups].map(([name, points]) => ({ name, type: "line", showSymbol: points.length < 40, connectNulls: spanNulls, data: points })),
    };
  }

  function parseTime(value) {
    // ClickHouse writes DateTime in the column's zone; the dashboards' zone is Asia/Shanghai.
    if (typeof value === "number") return value < 1e12 ? value * 1000 : value;
    return Date.parse(String(value).replace(" ", "T") + (/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? "" : "+08:00"));
  }

  function formatTime(ms, pattern) {
    const parts = new Intl.DateTimeFormat("zh-CN", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }).formatToParts(new Date(ms));
    const part = (type) => parts.find((p) => p.type === type)?.value || "";
    return pattern.replace("%Y", part("year")).replace("%m", part("month")).replace("%d", part("day")).replace("%H", part("hour")).replace("%M", part("minute"));
  }

  // Start ---------------------------------------------------------------------------------------

  async function start() {
    try {
      [state.session, state.board] = await Promise.all([
        window.tf.header(uid),
        api(`/api/dashboards/${encodeURIComponent(uid)}`),
      ]);
    } catch (error) {
      notice("无法加载看板：" + error.message);
      return;
    }
    document.getElementById("title").textContent = state.board.title;
    document.title = `${state.board.title} · 人物同防监管台`;
    readUrl();
    renderTimeControls();
    layout();
    try {
      await loadVariables();
    } catch (error) {
      notice(error.status === 403 || error.status === 404 ? "无权查看：" + error.message : "无法加载筛选项：" + error.message);
      document.body.dataset.loaded = "error";
      return;
    }
    await loadPanels();
    schedule();
    addEventListener("resize", () => state.charts.forEach((chart) => chart.resize()));
  }

  start();
})();
