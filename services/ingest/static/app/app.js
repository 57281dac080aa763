// 同防 · 网点工作台: the site's own screen. Plain script, no build step.
//
// Every record gets its event id on the device when the operator presses save, waits in IndexedDB
// (store "queue", in the order saved) and is posted in that order to /app/api/events; it leaves the
// queue only when the service answered for it (accepted, or duplicate: stored before). A reload or a
// lost answer resends the same ids, which the service answers as duplicates: never a second record.
"use strict";

const API = "/app/api";
const ROLES = {
  courier: "快递员", sorter: "分拣员", driver: "驾驶员", international_handler: "进口邮件处理",
  international_exposed: "国际高风险岗位", other_logistics: "其他物流",
};
const METHODS = [["spray", "喷洒"], ["wipe", "擦拭"], ["uv", "紫外线"], ["fumigation", "熏蒸"]];
const TYPES = {
  "parcels.received": "接收批次", "parcels.disinfected": "批次消毒", "parcels.dispatched": "批次发出",
  "staff.health_checked": "员工测温", "site.disinfected": "场所消杀", "vehicle.departed": "车辆发车",
  "vehicle.arrived": "车辆到达", "anomaly.reported": "异常报告",
};
const DAY_MS = 86400000;
const URGENT_MINUTES = 15;

const state = { me: null, site: null, today: null, syncing: false, form: null };
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// IndexedDB --------------------------------------------------------------------------------------

let database = null;

function db() {
  if (database) return Promise.resolve(database);
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("tongfang-workbench", 1);
    request.onupgradeneeded = () => {
      const made = request.result;
      made.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
      made.createObjectStore("sent", { keyPath: "event_id" });
      made.createObjectStore("rejected", { keyPath: "event_id" });
      made.createObjectStore("meta");
    };
    request.onsuccess = () => { database = request.result; resolve(database); };
    request.onerror = () => reject(request.error);
  });
}

async function tx(stores, mode, work) {
  const handle = await db();
  return new Promise((resolve, reject) => {
    const transaction = handle.transaction(stores, mode);
    let result;
    Promise.resolve(work(transaction)).then((value) => { result = value; });
    transaction.oncomplete = () => resolve(result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

function all(store) {
  return tx([store], "readonly", (t) => new Promise((resolve) => {
    const request = t.objectStore(store).getAll();
    request.onsuccess = () => resolve(request.result);
  }));
}

function metaGet(key) {
  return tx(["meta"], "readonly", (t) => new Promise((resolve) => {
    const request = t.objectStore("meta").get(key);
    request.onsuccess = () => resolve(request.result);
  }));
}

function metaSet(key, value) {
  return tx(["meta"], "readwrite", (t) => { t.objectStore("meta").put(value, key); });
}

// Time -------------------------------------------------------------------------------------------

function pad(number, width = 2) { return String(Math.trunc(Math.abs(number))).padStart(width, "0"); }

function isoLocal(date = new Date()) {
  const offset = -date.getTimezoneOffset();
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${offset >= 0 ? "+" : "-"}${pad(offset / 60)}:${pad(offset % 60)}`;
}

function clock(ms) {
  const date = new Date(ms);
  return `${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function left(minutes) {
  if (minutes < 0) return `<span class="overdue">已超时 ${-minutes} 分钟</span>`;
  const text = minutes >= 60 ? `${Math.floor(minutes / 60)} 小时 ${minutes % 60} 分` : `${minutes} 分钟`;
  return `<span class="${minutes < URGENT_MINUTES ? "urgent" : ""}">剩 ${text}</span>`;
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Service calls ----------------------------------------------------------------------------------

async function call(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  if (state.me && options.method && options.method !== "GET") headers["X-CSRF-Token"] = state.me.csrf;
  const response = await fetch(path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.json !== undefined ? JSON.stringify(options.json) : options.body,
  });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return { status: response.status, body };
}

// Sign-in ----------------------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
  bind();
  if (location.hash.startsWith("#token=")) {  // a sign-in link: the token never reaches a server log
    const token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname);
    const { status, body } = await call(`${API}/session`, { method: "POST", json: { token } }).catch(() => ({}));
    if (status === 200) { await signedIn(body); return; }
  }
  const cached = await metaGet("me");
  try {
    const { status, body } = await call(`${API}/session`);
    if (status === 200) { await signedIn(body); return; }
    if (status === 401) { showLogin(); return; }
  } catch (_) { /* offline: work from what the device knows */ }
  if (cached) { await signedIn(cached, true); return; }
  showLogin();
}

function showLogin() {
  $("#tabs").hidden = true;
  $("#site").hidden = true;
  show("login");
}

async function signedIn(me, offline = false) {
  state.me = me;
  await metaSet("me", me);
  const select = $("#site");
  select.innerHTML = me.sites.map((site) => `<option value="${escapeHtml(site.site_id)}">${escapeHtml(site.name)}</option>`).join("");
  const remembered = await metaGet("site");
  state.site = me.sites.some((site) => site.site_id === remembered) ? remembered : me.sites[0].site_id;
  select.value = state.site;
  select.hidden = me.sites.length < 2;
  $("#tabs").hidden = false;
  $("#ledger").innerHTML = me.ledgers.map((ledger) => `<option value="${ledger.name}">${escapeHtml(ledger.title)}</option>`).join("");
  templateLinks();
  show("today");
  await refresh();
  if (!offline) sync();
}

// Views ------------------------------------------------------------------------------------------

function show(name) {
  $$(".view").forEach((view) => { view.hidden = view.id !== `view-${name}`; });
  $$("nav#tabs button[data-view]").forEach((button) => button.classList.toggle("active", button.dataset.view === name));
  if (name === "queue") renderQueue();
  if (name === "today") loadToday();
  window.scrollTo(0, 0);
}

async function loadToday() {
  if (!state.site) return;
  try {
    const { status, body } = await call(`${API}/today?site_id=${encodeURIComponent(state.site)}`);
    if (status === 200) {
      state.today = body;
      await metaSet(`today:${state.site}`, body);
    } else if (status === 401) { showLogin(); return; }
  } catch (_) {
    state.today = await metaGet(`today:${state.site}`);
  }
  await renderToday();
}

async function localRecords() {
  // What this device recorded for the site and the warehouse may not show yet: queued, or sent lately.
  const queued = (await all("queue")).map((item) => item.event);
  const sent = (await all("sent")).filter((item) => Date.now() - item.at < DAY_MS).map((item) => item.event);
  return queued.concat(sent).filter((event) => event.site_id === state.site);
}

async function renderToday() {
  const today = state.today;
  const box = $("#today");
  if (!today) { box.innerHTML = `<p class="hint">暂无数据：请联网后刷新。</p>`; return; }
  $("#today-time").textContent = `更新于 ${clock(today.now_ms)}`;
  const mine = await localRecords();
  const disinfectedHere = new Set(mine.filter((e) => e.event_type === "parcels.disinfected").map((e) => e.payload.batch_id));
  const dispatchedHere = new Set(mine.filter((e) => e.event_type === "parcels.dispatched").map((e) => e.payload.batch_id));
  const checkedHere = new Set(mine.filter((e) => e.event_type === "staff.health_checked").map((e) => e.payload.staff_id));
  const premisesHere = mine.filter((e) => e.event_type === "site.disinfected").length;
  const minutesNow = (deadline) => Math.floor((deadline - Date.now()) / 60000);

  const waiting = today.batches.filter((b) => !b.disinfected && !disinfectedHere.has(b.batch) && !dispatchedHere.has(b.batch));
  const batchItems = waiting.map((b) => `<li><span><b>${escapeHtml(b.batch)}</b> · ${b.origin === "imported" ? "进口" : "国内"} ${b.items} 件<br>` +
    `<span class="muted">接收 ${clock(b.received_ms)}${b.deadline_ms ? ` · 时限 ${clock(b.deadline_ms)}` : ""}</span></span>` +
    `<span class="left">${b.deadline_ms ? left(minutesNow(b.deadline_ms)) : "—"}</span>` +
    `<button type="button" data-go="disinfect" data-batch="${escapeHtml(b.batch)}">消毒</button></li>`);
  const unchecked = today.staff_unchecked.filter((p) => !checkedHere.has(p.staff_id));
  const staffItems = unchecked.map((p) => `<li><span>${staffLabel(p)}</span>` +
    `<button type="button" data-go="check" data-staff="${p.staff_id}">测温</button></li>`);
  const testItems = today.tests_due.map((p) => `<li><span>${staffLabel(p)}<br><span class="muted">` +
    `${p.last_negative_ms ? `上次阴性采样 ${clock(p.last_negative_ms)}` : "无阴性记录"}</span></span>` +
    `<span class="left">${p.due_ms <= Date.now() ? '<span class="overdue">已到期</span>' : `${clock(p.due_ms)} 到期`}</span></li>`);
  const vehicleItems = today.vehicles_expected.map((v) => `<li><span><b>${escapeHtml(v.vehicle_id)}</b> · 线路 ${escapeHtml(v.route_id)}` +
    `<br><span class="muted">窗口 ${clock(v.window_start_ms)}–${clock(v.window_end_ms)}</span></span>` +
    `<button type="button" data-go="arrive" data-vehicle="${escapeHtml(v.vehicle_id)}" data-route="${escapeHtml(v.route_id)}">到达</button></li>`);
  const owed = Math.max(0, today.premises.required - today.premises.done - premisesHere);
  box.innerHTML =
    card("待消毒批次", batchItems, "没有等待消毒的批次") +
    card("今日未测温员工", staffItems, "在岗员工均已测温") +
    card("检测即将到期", testItems, "一天内无到期检测") +
    card("预计到达车辆", vehicleItems, "今日无待到达车辆") +
    card("场所消杀", owed ? [`<li><span>今日还需消杀 <b>${owed}</b> 次（要求 ${today.premises.required} 次）</span>` +
      `<button type="button" data-go="premises">登记</button></li>`] : [], `今日 ${today.premises.required} 次消杀已完成`, owed);
  $("#today-note").textContent = today.profile === "response" ? "本辖区处于应急响应级别：时限已按应急标准缩短。" : "";
}

function card(title, items, empty, count = items.length) {
  return `<div class="card"><h2>${title}<span class="count">${count}</span></h2>` +
    (items.length ? `<ul>${items.join("")}</ul>` : `<p class="muted">${empty}</p>`) + "</div>";
}

function staffLabel(person) {
  return `${ROLES[person.role] || person.role} <span class="muted">${person.staff_id.slice(3, 9)}</span>`;
}

// Forms ------------------------------------------------------------------------------------------

function staffOptions(filter = () => true) {
  const staff = (state.today && state.today.staff) || [];
  return staff.filter(filter).map((p) => [p.staff_id, `${ROLES[p.role] || p.role} · ${p.staff_id.slice(3, 9)}`]);
}

function batchOptions(predicate) {
  const batches = (state.today && state.today.batches) || [];
  return batches.filter(predicate).map((b) => b.batch);
}

const FORMS = {
  receive: {
    title: "接收批次", type: "parcels.received",
    fields: () => [
      { name: "batch_id", label: "批次号 / 总包条码", scan: true, required: true },
      { name: "item_count", label: "件数", kind: "number", required: true },
      { name: "origin", label: "来源", options: [["domestic", "国内"], ["imported", "进口"]] },
      { name: "origin_country", label: "始发国家/地区（两位代码，如 US）", showIf: (v) => v.origin === "imported" },
      { name: "from_outside_city", label: "来自市外", kind: "check", value: true, showIf: (v) => v.origin !== "imported" },
      { name: "vehicle_id", label: "到达车辆（可空）" },
    ],
    payload: (v) => ({ batch_id: v.batch_id, item_count: v.item_count, origin: v.origin,
      origin_country: v.origin === "imported" ? (v.origin_country || "").toUpperCase() || null : null,
      from_outside_city: v.origin === "imported" ? true : v.from_outside_city, vehicle_id: v.vehicle_id || null }),
  },
  disinfect: {
    title: "批次消毒", type: "parcels.disinfected",
    fields: () => [
      { name: "batch_id", label: "批次号", scan: true, required: true, list: batchOptions((b) => !b.disinfected) },
      { name: "item_count", label: "消毒件数", kind: "number", required: true },
      { name: "method", label: "消毒方式", options: METHODS },
      { name: "agent", label: "消毒剂", required: true, remember: true },
      { name: "operator_id", label: "消毒人员", options: staffOptions(), required: true },
    ],
    payload: (v) => ({ batch_id: v.batch_id, item_count: v.item_count, method: v.method, agent: v.agent,
      operator_id: v.operator_id }),
  },
  dispatch: {
    title: "批次发出", type: "parcels.dispatched",
    fields: () => [
      { name: "batch_id", label: "批次号", scan: true, required: true, list: batchOptions(() => true) },
      { name: "item_count", label: "件数", kind: "number", required: true },
      { name: "destination_site_id", label: "发往网点（可空）" },
    ],
    payload: (v) => ({ batch_id: v.batch_id, item_count: v.item_count, destination_site_id: v.destination_site_id || null }),
    gate: dispatchGate,
  },
  check: {
    title: "员工测温", type: "staff.health_checked",
    fields: () => [
      { name: "staff_id", label: "员工", options: staffOptions(), required: true },
      { name: "temperature", label: "体温（℃）", kind: "number", step: "0.1", required: true },
      { name: "symptoms", label: "症状", kind: "checks",
        options: [["fever", "发热"], ["cough", "咳嗽"], ["sore_throat", "咽痛"], ["fatigue", "乏力"], ["loss_of_smell", "嗅觉减退"], ["shortness_of_breath", "呼吸困难"]] },
      { name: "health_code", label: "健康码", options: [["green", "绿码"], ["yellow", "黄码"], ["red", "红码"]] },
    ],
    payload: (v) => ({ staff_id: v.staff_id, temperature: v.temperature, symptoms: v.symptoms, health_code: v.health_code }),
  },
  premises: {
    title: "场所消杀", type: "site.disinfected",
    fields: () => [
      { name: "area", label: "区域", options: [["whole_site", "全场"], ["international", "国际业务区"], ["domestic", "国内业务区"]] },
      { name: "method", label: "消毒方式", options: METHODS },
      { name: "agent", label: "消毒剂", required: true, remember: true },
    ],
    payload: (v) => ({ area: v.area, method: v.method, agent: v.agent }),
  },
  depart: {
    title: "车辆发车", type: "vehicle.departed",
    fields: () => [
      { name: "vehicle_id", label: "车辆", required: true },
      { name: "route_id", label: "线路", required: true },
      { name: "seal_id", label: "铅封号", scan: true, required: true },
      { name: "driver_id", label: "驾驶员", options: staffOptions((p) => p.role === "driver"), required: true },
    ],
    payload: (v) => ({ vehicle_id: v.vehicle_id, route_id: v.route_id, seal_id: v.seal_id, driver_id: v.driver_id }),
  },
  arrive: {
    title: "车辆到达", type: "vehicle.arrived",
    fields: () => [
      { name: "vehicle_id", label: "车辆", required: true },
      { name: "route_id", label: "线路（可空）" },
      { name: "seal_id", label: "铅封号", scan: true },
      { name: "seal_intact", label: "铅封完好", kind: "check", value: true },
    ],
    payload: (v) => ({ vehicle_id: v.vehicle_id, route_id: v.route_id || null, seal_id: v.seal_id || null, seal_intact: v.seal_intact }),
  },
  anomaly: {
    title: "异常报告", type: "anomaly.reported",
    fields: () => [
      { name: "category", label: "类别", options: [["unregistered_arrival", "外来人员未登记"], ["crowding", "人员聚集"], ["sick_resident", "发现身体不适人员"],
        ["closed_area_breach", "封控区域人员外出"], ["parcel_hazard", "可疑邮件快件"], ["other", "其他"]] },
      { name: "description", label: "情况说明", kind: "text", required: true },
      { name: "community", label: "地点 / 社区", required: true },
    ],
    payload: (v) => ({ category: v.category, description: v.description, community: v.community }),
  },
};

function openForm(name, preset = {}) {
  const form = FORMS[name];
  state.form = name;
  $("#form-title").textContent = form.title;
  const element = $("#event-form");
  element.innerHTML = form.fields().map((field) => fieldHtml(field, preset)).join("") +
    `<div id="gate"></div><button class="primary" type="submit">保存</button>`;
  element.dataset.form = name;
  for (const field of form.fields()) {
    if (field.remember && !preset[field.name]) {
      const input = element.elements[field.name];
      metaGet(`remember:${field.name}`).then((value) => { if (value && !input.value) input.value = value; });
    }
  }
  applyShowIf();
  show("form");
}

function fieldHtml(field, preset) {
  const value = preset[field.name] ?? field.value ?? "";
  const path = `payload.${field.name}`;
  const error = `<p class="error" data-error="${path}"></p>`;
  const showIf = field.showIf ? ` data-show-if="${field.name}"` : "";
  if (field.kind === "check") {
    return `<label${showIf} data-wrap="${field.name}"><input type="checkbox" name="${field.name}" data-field="${path}"${value ? " checked" : ""}>${field.label}</label>${error}`;
  }
  if (field.kind === "checks") {
    return `<fieldset class="checks" data-wrap="${field.name}"><legend>${field.label}</legend>` +
      field.options.map(([key, label]) => `<label><input type="checkbox" name="${field.name}" value="${key}">${label}</label>`).join("") +
      `</fieldset>${error}`;
  }
  if (field.options) {
    const options = field.options.map(([key, label]) => `<option value="${escapeHtml(key)}"${key === value ? " selected" : ""}>${escapeHtml(label)}</option>`).join("");
    const blank = field.required ? `<option value="">请选择</option>` : "";
    return `<label${showIf} data-wrap="${field.name}">${field.label}<select name="${field.name}" data-field="${path}">${blank}${options}</select></label>${error}`;
  }
  const list = field.list ? ` list="list-${field.name}"` : "";
  const datalist = field.list ? `<datalist id="list-${field.name}">${field.list.map((item) => `<option value="${escapeHtml(item)}">`).join("")}</datalist>` : "";
  const type = field.kind === "number" ? `type="number" inputmode="decimal" step="${field.step || "1"}"` : `type="text"`;
  const input = field.kind === "text"
    ? `<textarea name="${field.name}" data-field="${path}" rows="3">${escapeHtml(value)}</textarea>`
    : `<input ${type} name="${field.name}" data-field="${path}" value="${escapeHtml(value)}"${list} autocomplete="off">`;
  const scan = field.scan ? `<button type="button" class="scan" data-scan="${field.name}">扫码</button>` : "";
  return `<div class="row"${showIf} data-wrap="${field.name}"><label>${field.label}${input}</label>${scan}</div>${datalist}${error}`;
}

function values(form) {
  const found = {};
  for (const field of FORMS[form.dataset.form].fields()) {
    if (field.kind === "checks") {
      found[field.name] = $$(`input[name="${field.name}"]:checked`, form).map((input) => input.value);
    } else if (field.kind === "check") {
      found[field.name] = form.elements[field.name].checked;
    } else {
      const raw = form.elements[field.name].value.trim();
      found[field.name] = field.kind === "number" && raw !== "" ? Number(raw) : raw;
    }
  }
  return found;
}

function applyShowIf() {
  const form = $("#event-form");
  const current = values(form);
  for (const field of FORMS[form.dataset.form].fields()) {
    if (!field.showIf) continue;
    const wrap = $(`[data-wrap="${field.name}"]`, form);
    if (wrap) wrap.hidden = !field.showIf(current);
  }
}

function clearErrors(form) {
  $$(".error", form).forEach((p) => { p.textContent = ""; });
  $$(".invalid", form).forEach((input) => input.classList.remove("invalid"));
}

function fieldError(form, path, reason) {
  const holder = $(`[data-error="${path}"]`, form) || $(`[data-error]`, form);
  if (holder) holder.textContent = reason;
  const input = $(`[data-field="${path}"]`, form);
  if (input) input.classList.add("invalid");
}

async function submitForm(event) {
  event.preventDefault();
  const form = event.target;
  const spec = FORMS[form.dataset.form];
  clearErrors(form);
  const found = values(form);
  let missing = false;
  for (const field of spec.fields()) {
    const wrap = $(`[data-wrap="${field.name}"]`, form);
    if (field.required && (found[field.name] === "" || found[field.name] === undefined) && !(wrap && wrap.hidden)) {
      fieldError(form, `payload.${field.name}`, "必填");
      missing = true;
    }
  }
  if (missing) return;
  const payload = spec.payload(found);
  if (spec.gate) {
    const stop = await spec.gate(found);
    const override = form.elements.override_reason ? form.elements.override_reason.value.trim() : "";
    if (stop && !override) { showGate(stop); return; }
    if (stop) payload.override_reason = override;
  }
  for (const field of spec.fields()) if (field.remember) await metaSet(`remember:${field.name}`, found[field.name]);
  const record = {
    event_id: crypto.randomUUID(), event_type: spec.type, occurred_at: isoLocal(),
    enterprise_id: state.me.enterprise_id, site_id: state.site,
    payload: Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== null && value !== undefined)),
  };
  await enqueue(record);
  const outcome = await sync();
  const mine = outcome && outcome[record.event_id];
  if (mine && mine.status === "rejected") {
    fieldError(form, mine.field || "$", mine.reason);
    return;
  }
  toast(mine ? "已保存并上传" : "已保存，待联网后自动上传");
  show("today");
}

// The dispatch gate (四无不出): a batch leaves only with a disinfection record, and an imported one
// only after its rest period; otherwise the operator records why, and the dispatch carries it.
async function dispatchGate(found) {
  const batch = ((state.today && state.today.batches) || []).find((b) => b.batch === found.batch_id);
  const mine = await localRecords();
  const disinfected = (batch && batch.disinfected) ||
    mine.some((e) => e.event_type === "parcels.disinfected" && e.payload.batch_id === found.batch_id);
  if (!disinfected) return `批次 ${found.batch_id} 没有消毒记录，不得发出（四无不出）。请先登记消毒。`;
  if (batch && batch.rest_ends_ms && Date.now() < batch.rest_ends_ms) {
    return `进口邮件快件 ${found.batch_id} 静置期未满，${clock(batch.rest_ends_ms)} 后方可发出。`;
  }
  return null;
}

function showGate(reason) {
  $("#gate").innerHTML = `<div class="gate" role="alert"><strong>${escapeHtml(reason)}</strong>` +
    `<label>如确需发出，请说明原因（将作为记录报送监管部门）<textarea name="override_reason" rows="3"></textarea></label>` +
    `<p class="error" data-error="payload.override_reason"></p></div>`;
  const button = $("#event-form button[type=submit]");
  button.textContent = "记录原因并发出";
  button.classList.add("danger");
}

// The queue --------------------------------------------------------------------------------------

async function enqueue(record) {
  await tx(["queue"], "readwrite", (t) => { t.objectStore("queue").add({ event: record, saved_at: Date.now() }); });
  await updatePending();
}

async function sync() {
  if (state.syncing || !state.me) return null;
  state.syncing = true;
  const outcome = {};
  try {
    while (true) {
      const queued = (await all("queue")).sort((a, b) => a.seq - b.seq).slice(0, 200);
      if (!queued.length) break;
      let response;
      try {
        response = await call(`${API}/events`, { method: "POST", json: queued.map((item) => item.event) });
      } catch (_) { break; }  // offline: they wait
      if (response.status === 401) { showLogin(); break; }
      if (!response.body || !Array.isArray(response.body.results)) break;  // 429, 503: later
      let progressed = false;
      await tx(["queue", "sent", "rejected"], "readwrite", (t) => {
        for (const result of response.body.results) {
          const item = queued[result.index];
          outcome[item.event.event_id] = result;
          if (result.status === "failed") continue;
          t.objectStore("queue").delete(item.seq);
          progressed = true;
          if (result.status === "rejected") t.objectStore("rejected").put({ event_id: item.event.event_id, event: item.event, field: result.field, reason: result.reason, at: Date.now() });
          else t.objectStore("sent").put({ event_id: item.event.event_id, event: item.event, status: result.status, at: Date.now() });
        }
      });
      await metaSet("last_sync", Date.now());
      if (!progressed) break;
    }
  } finally {
    state.syncing = false;
    await updatePending();
  }
  return outcome;
}

async function updatePending() {
  const queued = await all("queue");
  $("#pending").textContent = String(queued.length);
  $("#sync").classList.toggle("has", queued.length > 0);
  const oldest = queued.reduce((min, item) => Math.min(min, item.saved_at), Infinity);
  const lastSync = await metaGet("last_sync");
  const banner = $("#banner");
  const stale = queued.length && (Date.now() - oldest > DAY_MS);
  if (!navigator.onLine) {
    banner.hidden = false; banner.className = "banner offline";
    banner.textContent = `当前无网络：记录保存在本机，恢复网络后自动上传。${stale ? "本设备已超过一天未同步。" : ""}`;
  } else if (stale || (lastSync && Date.now() - lastSync > DAY_MS && queued.length)) {
    banner.hidden = false; banner.className = "banner";
    banner.textContent = "本设备已超过一天未同步，请连接网络后点“待同步”上传。";
  } else {
    banner.hidden = true;
  }
  if (!$("#view-queue").hidden) renderQueue();
}

async function renderQueue() {
  const line = (event, extra = "") => `<li>${TYPES[event.event_type] || event.event_type} · ${escapeHtml(event.payload.batch_id || event.payload.vehicle_id || event.payload.staff_id?.slice(3, 9) || "")}` +
    ` <span class="muted">${event.occurred_at.slice(5, 16).replace("T", " ")}</span>${extra}</li>`;
  const queued = (await all("queue")).sort((a, b) => a.seq - b.seq);
  $("#queue-list").innerHTML = queued.map((item) => line(item.event)).join("") || `<li class="muted">没有待同步的记录</li>`;
  const rejected = await all("rejected");
  $("#rejected-list").innerHTML = rejected.map((item) => line(item.event, `<br><span class="urgent">${escapeHtml(item.field)}：${escapeHtml(item.reason)}</span>`)).join("") || `<li class="muted">无</li>`;
  const sent = (await all("sent")).sort((a, b) => b.at - a.at).slice(0, 20);
  $("#sent-list").innerHTML = sent.map((item) => line(item.event, item.status === "duplicate" ? " <span class=\"muted\">（重复，已有记录）</span>" : "")).join("") || `<li class="muted">无</li>`;
}

function toast(text) {
  const banner = $("#banner");
  banner.hidden = false; banner.className = "banner"; banner.textContent = text;
  setTimeout(() => updatePending(), 2500);
}

// Barcodes ---------------------------------------------------------------------------------------

let scanning = null;

async function scan(target) {
  const overlay = $("#scanner");
  const video = $("#scan-video");
  overlay.hidden = false;
  const stop = () => {
    if (scanning) scanning.stop();
    scanning = null;
    overlay.hidden = true;
  };
  $("#scan-close").onclick = stop;
  try {
    if ("BarcodeDetector" in window) {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      await video.play();
      const detector = new BarcodeDetector();
      let live = true;
      scanning = { stop: () => { live = false; stream.getTracks().forEach((track) => track.stop()); } };
      while (live) {
        const codes = await detector.detect(video).catch(() => []);
        if (codes.length) { target.value = codes[0].rawValue; stop(); return; }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } else {
      await loadScript("/app/vendor/zxing.min.js");
      const reader = new ZXing.BrowserMultiFormatReader();
      scanning = { stop: () => reader.reset() };
      const result = await reader.decodeOnceFromVideoDevice(undefined, video);
      target.value = result.getText();
      stop();
    }
  } catch (error) {
    stop();
    toast(`无法使用相机扫码（${error.name || error}）：请手动输入。`);
  }
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    if ($(`script[src="${src}"]`)) { resolve(); return; }
    const script = document.createElement("script");
    script.src = src; script.onload = resolve; script.onerror = reject;
    document.head.appendChild(script);
  });
}

// Imports ----------------------------------------------------------------------------------------

function templateLinks() {
  const name = $("#ledger").value;
  $("#template-links").innerHTML = `模板：<a href="/v1/templates/${name}.xlsx">Excel (.xlsx)</a><a href="/v1/templates/${name}.csv">CSV</a>`;
}

async function submitImport(event) {
  event.preventDefault();
  const form = event.target;
  const file = form.elements.file.files[0];
  if (!file) return;
  const format = file.name.toLowerCase().endsWith(".csv") ? "csv" : "xlsx";
  $("#import-result").innerHTML = `<p class="hint">正在导入 ${escapeHtml(file.name)} …</p>`;
  let response;
  try {
    response = await call(`${API}/imports?ledger=${encodeURIComponent(form.elements.ledger.value)}&format=${format}`,
      { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
  } catch (_) {
    $("#import-result").innerHTML = `<p class="error">无网络，导入需要联网。</p>`;
    return;
  }
  const body = response.body || {};
  if (!("rows" in body)) {
    $("#import-result").innerHTML = `<p class="error">${escapeHtml(body.reason || `导入失败（${response.status}）`)}</p>`;
    return;
  }
  const problems = body.problems.map((p) => `<tr><td>${p.row}</td><td>${p.status === "rejected" ? "拒绝" : "未导入"}</td><td>${escapeHtml(p.column)}</td><td>${escapeHtml(p.reason)}</td></tr>`).join("");
  $("#import-result").innerHTML = `<div class="${body.rejected || body.failed ? "gate" : "ok"}">` +
    `<strong>${escapeHtml(body.title)}：共 ${body.rows} 行</strong>已导入 ${body.accepted} 行，重复 ${body.duplicate} 行，拒绝 ${body.rejected} 行` +
    `${body.failed ? `，未导入 ${body.failed} 行（服务暂不可用，请稍后重新上传同一文件）` : ""}。</div>` +
    (problems ? `<p class="links"><a href="${body.errors_url}">下载出错行（CSV）</a><a href="${body.results_url}">下载逐行结果</a></p>` +
      `<table class="result"><tr><th>行</th><th>结果</th><th>列</th><th>原因</th></tr>${problems}</table>` : "");
}

// Wiring -----------------------------------------------------------------------------------------

function bind() {
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = event.target.elements.token.value.trim();
    const { status, body } = await call(`${API}/session`, { method: "POST", json: { token } });
    if (status === 200) { event.target.reset(); await signedIn(body); return; }
    $('[data-error="token"]').textContent = (body && body.reason) || `登录失败（${status}）`;
  });
  $("#tabs").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.id === "sign-out") {
      await call(`${API}/session`, { method: "DELETE" }).catch(() => {});
      state.me = null;
      await metaSet("me", null);
      showLogin();
      return;
    }
    show(button.dataset.view);
  });
  $("#sync").addEventListener("click", () => { show("queue"); sync(); });
  $("#sync-now").addEventListener("click", () => sync());
  $("#site").addEventListener("change", async (event) => { state.site = event.target.value; await metaSet("site", state.site); loadToday(); });
  $("#view-record").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-form]");
    if (button) openForm(button.dataset.form);
  });
  $("#today").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-go]");
    if (!button) return;
    const preset = {};
    if (button.dataset.batch) {
      preset.batch_id = button.dataset.batch;
      const batch = state.today.batches.find((b) => b.batch === button.dataset.batch);
      if (batch) preset.item_count = batch.items - batch.disinfected_items;
    }
    if (button.dataset.staff) preset.staff_id = button.dataset.staff;
    if (button.dataset.vehicle) { preset.vehicle_id = button.dataset.vehicle; preset.route_id = button.dataset.route; }
    openForm(button.dataset.go, preset);
  });
  $(".back").addEventListener("click", () => show("record"));
  const form = $("#event-form");
  form.addEventListener("submit", submitForm);
  form.addEventListener("change", applyShowIf);
  form.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-scan]");
    if (button) scan(form.elements[button.dataset.scan]);
  });
  $("#ledger").addEventListener("change", templateLinks);
  $("#import-form").addEventListener("submit", submitImport);
  window.addEventListener("online", () => { updatePending(); sync(); });
  window.addEventListener("offline", updatePending);
  setInterval(() => { if (navigator.onLine) sync(); }, 30000);
}

async function refresh() { await updatePending(); }

document.addEventListener("DOMContentLoaded", start);
