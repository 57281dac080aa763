"use strict";
// The alert desk: open alerts of the jurisdiction, one alert's evidence and history, and the three
// actions (确认, 督办, 办结). An action is an event that goes through Kafka into the warehouse, so the
// page waits until the history shows it.
(() => {
  const SEVERITY = { critical: "严重", major: "重要", minor: "一般" };
  const STATE = { "": "待处置", acknowledged: "已确认", assigned: "已督办", closed: "已办结" };
  const params = new URLSearchParams(location.search);

  const { el, api: call, notice } = window.tf;

  function describe(payload) {
    return Object.entries(payload)
      .filter(([, value]) => value !== null && value !== "" && !(Array.isArray(value) && !value.length))
      .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join("、") : value}`)
      .join(" · ");
  }

  function age(minutes) {
    if (minutes < 60) return `${minutes} 分钟`;
    if (minutes < 1440) return `${Math.floor(minutes / 60)} 小时 ${minutes % 60} 分`;
    return `${Math.floor(minutes / 1440)} 天 ${Math.floor((minutes % 1440) / 60)} 小时`;
  }

  function sync() {
    for (const name of ["state", "severity"]) {
      const value = document.getElementById(name).value;
      if (value && !(name === "state" && value === "pending")) params.set(name, value);
      else params.delete(name);
    }
    history.replaceState(null, "", "/desk" + (params.toString() ? "?" + params : ""));
  }

  async function loadList() {
    const query = new URLSearchParams();
    for (const name of ["state", "severity"]) if (document.getElementById(name).value) query.set(name, document.getElementById(name).value);
    const { alerts, count } = await call("/api/alerts?" + query);
    document.getElementById("count").textContent = `共 ${count} 条`;
    const body = document.querySelector("#alerts tbody");
    body.replaceChildren();
    for (const alert of alerts) {
      const row = el(
        "tr",
        { "data-alert-id": alert.alert_id, class: alert.alert_id === params.get("alert") ? "selected" : "", onclick: () => select(alert.alert_id) },
        el("td", {}, el("span", { class: `sev sev-${alert.severity}`, text: SEVERITY[alert.severity] || alert.severity })),
        el("td", { text: alert.title_zh }),
        el("td", {}, el("a", { href: `/sites/${encodeURIComponent(alert.site_id)}`, text: alert.site_name || alert.site_id, title: alert.site_id, onclick: (e) => e.stopPropagation() })),
        el("td", { text: alert.enterprise_id }),
        el("td", { text: alert.raised_at }),
        el("td", { class: "num", text: age(alert.age_minutes) }),
        el("td", { class: "desk-state", text: STATE[alert.desk_state] + (alert.assignee && alert.desk_state === "assigned" ? ` → ${alert.assignee}` : "") }),
      );
      body.append(row);
    }
    if (!alerts.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "muted", text: "没有符合条件的预警。" })));
  }

  async function select(alertId) {
    params.set("alert", alertId);
    sync();
    for (const row of document.querySelectorAll("#alerts tr")) row.classList.toggle("selected", row.dataset.alertId === alertId);
    await showDetail(alertId);
  }

  async function showDetail(alertId) {
    const box = document.getElementById("detail");
    let alert;
    try {
      alert = await call(`/api/alerts/${encodeURIComponent(alertId)}`);
    } catch (error) {
      box.replaceChildren(el("p", { class: "error pad", text: error.message }));
      return null;
    }
    const facts = [
      ["网点", alert.site_id], ["企业", alert.enterprise_id], ["辖区", alert.division_label], ["对象", alert.subject_id],
      ["发现时间", alert.at], ["时限", alert.deadline || "—"], ["档位", alert.profile === "response" ? "响应期" : "常态"],
      ["规则解除", alert.resolved ? `${alert.resolved.at}${alert.resolved.late ? "（补录/逾期）" : ""}` : "未解除"],
    ];
    const evidence = el("table", {}, el("thead", {}, el("tr", {}, ...["事件", "发生时间", "接收时间", "延迟"].map((t) => el("th", { text: t })))));
    const evidenceBody = el("tbody");
    for (const event of alert.evidence_events) {
      const delay = age(Math.max(0, Math.round(event.delay_s / 60)));
      evidenceBody.append(
        el("tr", { class: "event" + (event.late ? " late" : "") },
          el("td", { text: window.tf.eventName(event.event_type) }),
          el("td", { text: event.occurred_at }),
          el("td", { text: event.received_at }),
          el("td", { text: event.late ? `补录 ${delay}` : delay }),
        ),
        el("tr", { class: "payload" }, el("td", { colspan: 4 }, el("code", { text: describe(event.payload) }))),
      );
    }
    if (!alert.evidence_events.length) evidenceBody.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "此预警由时限到期触发，没有证据事件。" })));
    evidence.append(evidenceBody);
    const historyList = el("ol", { class: "history" });
    for (const item of alert.history) {
      const what = { acknowledged: "确认", assigned: `督办 ${item.assignee_enterprise_id}，期限 ${item.due}`, closed: "办结" }[item.action] || item.action;
      historyList.append(el("li", { "data-action": item.action }, el("strong", { text: `${item.at} ${item.regulator_id}：${what}` }), item.note ? el("div", { text: item.note }) : null));
    }
    if (!alert.history.length) historyList.append(el("li", { class: "muted", text: "尚未处置。" }));
    box.replaceChildren(
      el("h2", { class: "pad", text: `${SEVERITY[alert.severity]} · ${alert.rule_title}` }),
      el("p", { class: "pad muted", text: `${alert.rule_id}：${alert.rule_description}` }),
      el("dl", { class: "facts pad" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
      el("h3", { class: "pad", text: alert.rule_id === "LEDGER-LATE" ? `当天补录记录（${alert.evidence_events.length} 条）` : "证据事件" }),
      el("div", { class: "table-wrap pad" }, evidence),
      el("h3", { class: "pad", text: "处置记录" }),
      historyList,
      alert.state === "closed" ? el("p", { class: "pad muted", text: "已办结。" }) : actions(alert),
    );
    return alert;
  }

  function actions(alert) {
    const tomorrow = new Date(Date.now() + 24 * 3600 * 1000 + 8 * 3600 * 1000).toISOString().slice(0, 16);
    const form = el("form", { class: "actions pad", id: "actions" });
    const note = el("textarea", { name: "note", rows: 2, maxlength: 500, placeholder: "处置说明（办结时必填）" });
    const enterprise = el("input", { name: "enterprise_id", value: alert.enterprise_id, "aria-label": "督办企业" });
    const due = el("input", { name: "due", type: "datetime-local", value: tomorrow, "aria-label": "办理期限" });
    const status = el("p", { class: "status", role: "status" });
    const send = (action, body) => async (event) => {
      event.preventDefault();
      status.className = "status";
      status.textContent = "提交中…";
      try {
        const { event_id: eventId } = await call(`/api/alerts/${encodeURIComponent(alert.alert_id)}/${action}`, body());
        status.textContent = "已提交，等待入库…";
        await waitFor(alert.alert_id, eventId);
      } catch (error) {
        status.className = "status error";
        status.textContent = (error.field ? `${error.field}：` : "") + error.message;
      }
    };
    form.append(
      el("label", { text: "说明" }), note,
      el("div", { class: "row" },
        el("button", { type: "button", "data-action": "acknowledge", onclick: send("acknowledge", () => ({ note: note.value })), text: "确认" }),
        el("span", { class: "assign" }, el("span", { text: "督办企业" }), enterprise, el("span", { text: "期限" }), due,
          el("button", { type: "button", "data-action": "assign", onclick: send("assign", () => ({ note: note.value, enterprise_id: enterprise.value, due: due.value })), text: "督办" })),
        el("button", { type: "button", "data-action": "close", class: "primary", onclick: send("close", () => ({ note: note.value })), text: "办结" }),
      ),
      status,
    );
    return form;
  }

  async function waitFor(alertId, eventId) {
    for (let attempt = 0; attempt < 40; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const alert = await call(`/api/alerts/${encodeURIComponent(alertId)}`);
      if (alert.history.some((item) => item.event_id === eventId)) {
        await showDetail(alertId);
        await loadList();
        return;
      }
    }
    throw new Error("已提交到消息队列，入库较慢，请稍后刷新查看。");
  }

  async function start() {
    try {
      await window.tf.header("desk");
    } catch (error) {
      notice("无法加载：" + error.message);
      return;
    }
    for (const name of ["state", "severity"]) {
      const select = document.getElementById(name);
      if (params.get(name)) select.value = params.get(name);
      select.onchange = () => {
        sync();
        loadList().catch((error) => notice(error.message));
      };
    }
    document.getElementById("reload").onclick = () => loadList().catch((error) => notice(error.message));
    try {
      await loadList();
      if (params.get("alert")) await showDetail(params.get("alert"));
    } catch (error) {
      notice(error.message);
    }
    document.body.dataset.loaded = String(Date.now());
  }

  start();
})();
