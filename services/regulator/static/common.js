"use strict";
// What the console's pages share: building elements, calling the API (a 401 goes to sign-in, a POST
// carries the session's CSRF token), and the header (dashboards, the desk, who is signed in, sign-out).
window.tf = (() => {
  let csrf = "";

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes)) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  async function api(path, body) {
    const options = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      Object.assign(options, { method: "POST", body: JSON.stringify(body) });
      Object.assign(options.headers, { "Content-Type": "application/json", "X-CSRF-Token": csrf });
    }
    const response = await fetch(path, options);
    if (response.status === 401) {
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      throw new Error("未登录或会话已结束");
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(answer.reason || response.statusText);
      error.status = response.status;
      error.field = answer.field;
      throw error;
    }
    return answer;
  }

  function notice(text) {
    const box = document.getElementById("notice");
    box.textContent = text || "";
    box.hidden = !text;
  }

  const EVENT_NAMES = {
    "site.registered": "网点登记", "staff.enrolled": "人员入职", "staff.left": "人员离职", "vehicle.registered": "车辆登记",
    "route.planned": "线路计划", "staff.health_checked": "健康监测", "staff.tested": "核酸检测", "staff.vaccinated": "疫苗接种",
    "staff.shift_started": "上岗", "parcels.received": "邮件到达", "parcels.disinfected": "邮件消毒", "parcels.dispatched": "邮件分发",
    "site.disinfected": "场所消杀", "site.environment_sampled": "环境采样", "site.inspected": "监管检查", "vehicle.departed": "车辆发车",
    "vehicle.arrived": "车辆到达", "vehicle.disinfected": "车辆消毒", "vehicle.stopped": "途中停车", "anomaly.reported": "异常报告",
    "event.voided": "更正作废", "policy.level_changed": "响应级别调整", "alert.acknowledged": "预警确认", "alert.assigned": "预警督办",
    "alert.closed": "预警办结", "site.reminded": "报送提醒",
  };
  const eventName = (type) => EVENT_NAMES[type] || type;

  const ORDER = ["tongfang-overview", "tongfang-disinfection", "tongfang-staff-health", "tongfang-vehicles", "tongfang-alerts", "tongfang-enterprises"];

  async function header(current) {
    const [session, { dashboards }] = await Promise.all([api("/api/session"), api("/api/dashboards")]);
    csrf = session.csrf;
    const nav = el("nav", { id: "boards", "aria-label": "看板" });
    const link = (href, text, here) => nav.append(el("a", { href, text, "aria-current": here ? "page" : null }));
    const boards = dashboards.filter((b) => b.uid !== "tongfang-site").sort((a, b) => ORDER.indexOf(a.uid) - ORDER.indexOf(b.uid));
    for (const board of boards) link(`/d/${board.uid}`, board.title, board.uid === current);
    if (current === "tongfang-site") link(location.pathname + location.search, "网点详情", true);
    link("/desk", "预警处置", current === "desk");
    link("/reports", "台账与报送", current === "reports");
    const logout = el(
      "form", { method: "post", action: "/logout" },
      el("input", { type: "hidden", name: "csrf", value: session.csrf }),
      el("button", { type: "submit", class: "link", text: "退出" }),
    );
    document.getElementById("top").replaceChildren(
      el("a", { class: "brand", href: "/", text: "人物同防监管台" }),
      nav,
      el("div", { class: "who" }, el("span", { text: `${session.name} · ${session.jurisdiction_label}` }), logout),
    );
    return session;
  }

  return { el, api, notice, header, eventName };
})();
