"use strict";
// 台账与报送: ledger exports, the daily report, and the sites that have not reported, with reminders.
(() => {
  const { el, api, notice } = window.tf;
  const MISSING = { staff_checks: "健康监测", parcel_records: "邮件台账" };
  const today = new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date());

  function exportLink() {
    const [kind, value] = document.getElementById("export-scope").value.split(":");
    const period = document.getElementById("export-period").value;
    const params = new URLSearchParams();
    if (period === "month") params.set("month", document.getElementById("export-month").value);
    else params.set("date", document.getElementById("export-day").value);
    params.set(kind, value);
    document.getElementById("export-link").href = "/api/ledgers.xlsx?" + params;
    document.getElementById("export-day-label").hidden = period === "month";
    document.getElementById("export-month-label").hidden = period !== "month";
  }

  async function scopes(session) {
    const select = document.getElementById("export-scope");
    const [jurisdictions, sites] = await Promise.all([
      api("/api/dashboards/tongfang-overview/variables/jurisdiction"),
      api("/api/dashboards/tongfang-overview/variables/site"),
    ]);
    for (const option of jurisdictions.options) select.append(el("option", { value: `jurisdiction:${option.value}`, text: `辖区 ${option.text}` }));
    for (const option of sites.options) select.append(el("option", { value: `site:${option.value}`, text: `网点 ${option.text}` }));
    select.value = `jurisdiction:${session.jurisdiction}`;
  }

  async function loadUnreported() {
    const day = document.getElementById("unreported-day").value;
    const { sites, count } = await api("/api/unreported?date=" + encodeURIComponent(day));
    document.getElementById("unreported-count").textContent = `共 ${count} 个网点`;
    const body = document.querySelector("#unreported-table tbody");
    body.replaceChildren();
    for (const site of sites) {
      const cell = el("td");
      const button = el("button", { type: "button", class: "small-button", "data-site": site.site_id, text: site.reminded_at ? `再次提醒（${site.reminded_at} 已提醒）` : "提醒" });
      button.onclick = async () => {
        button.disabled = true;
        try {
          await api(`/api/unreported/${encodeURIComponent(site.site_id)}/remind`, { date: day });
          button.textContent = "已发送提醒";
        } catch (error) {
          button.disabled = false;
          notice("提醒失败：" + error.message);
        }
      };
      cell.append(button);
      body.append(
        el("tr", {},
          el("td", {}, el("a", { href: `/sites/${encodeURIComponent(site.site_id)}`, text: site.site_id })),
          el("td", { text: site.name }),
          el("td", { text: site.enterprise_id }),
          el("td", { text: site.division_label }),
          el("td", { class: "missing", text: site.missing.map((kind) => MISSING[kind]).join("、") }),
          el("td", { text: site.last_check || "无" }),
          el("td", { text: site.last_parcel_record || "无" }),
          cell,
        ),
      );
    }
    if (!sites.length) body.append(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "当天所有网点均已报送。" })));
  }

  async function start() {
    let session;
    try {
      session = await window.tf.header("reports");
      for (const id of ["export-day", "report-day", "unreported-day"]) document.getElementById(id).value = today;
      document.getElementById("export-month").value = today.slice(0, 7);
      await scopes(session);
    } catch (error) {
      notice("无法加载：" + error.message);
      return;
    }
    for (const id of ["export-scope", "export-period", "export-day", "export-month"]) document.getElementById(id).onchange = exportLink;
    exportLink();
    const report = () => (document.getElementById("report-link").href = "/api/reports/daily?date=" + document.getElementById("report-day").value);
    document.getElementById("report-day").onchange = report;
    report();
    document.getElementById("unreported-day").onchange = () => loadUnreported().catch((error) => notice(error.message));
    await loadUnreported().catch((error) => notice(error.message));
    document.body.dataset.loaded = String(Date.now());
  }

  start();
})();
