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

  const ORDER = ["tongfang-overview", "tongfang-disinfection", "tongfang-staff-health", "tongfang-vehicles", "tongfang-alerts"];

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

  return { el, api, notice, header };
})();
