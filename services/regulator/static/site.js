"use strict";
// 网点详情: the site, its batches waiting for disinfection with the time left, its alerts, its timeline.
(() => {
  const { el, api, notice } = window.tf;
  const siteId = decodeURIComponent(location.pathname.split("/")[2] || "");
  const SEVERITY = { critical: "严重", major: "重要", minor: "一般" };
  const KIND = { outlet: "网点", sorting_centre: "分拨中心", station: "驿站", international_processing: "国际邮件处理场所" };
  const OPERATION = { direct: "直营", franchise: "加盟", partner: "合作" };
  const LATE = { record_after_deadline: "记录补录", action_after_deadline: "逾期处置" };

  function cells(tbody, rows, empty, columns) {
    tbody.replaceChildren();
    for (const row of rows) {
      const values = columns(row); // may set row.className
      tbody.append(el("tr", { class: row.className || "" }, ...values.map((cell) => (cell instanceof Node ? el("td", {}, cell) : el("td", { text: cell ?? "" })))));
    }
    if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: 8, class: "muted", text: empty })));
  }

  function payloadText(payload) {
    try {
      return Object.entries(JSON.parse(payload)).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length)).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join("、") : v}`).join(" · ");
    } catch {
      return payload;
    }
  }

  async function loadSite() {
    const site = await api(`/api/sites/${encodeURIComponent(siteId)}`);
    const title = document.getElementById("title");
    title.textContent = `${site.name}（${site.site_id}）`;
    if (site.grade) {
      const colour = { 红: "#E02F44", 黄: "#F2CC0C", 绿: "#56A64B" }[site.grade.grade];
      title.append(el("span", { class: "badge grade", title: site.grading, style: `background:${colour};color:${site.grade.grade === "黄" ? "#1f2328" : "#fff"}`, text: site.grade.grade }));
    }
    document.title = `${site.name} · 网点详情 · 人物同防监管台`;
    const late = site.lateness_30d;
    const facts = [
      ["企业 / 品牌", `${site.enterprise_id} / ${site.brand}`],
      ["类型", `${KIND[site.site_kind] || site.site_kind} · ${OPERATION[site.operation] || site.operation}${site.handles_international ? " · 有国际业务" : ""}`],
      ["辖区", `${site.division_name} (${site.division_code})`],
      ["位置", `${Number(site.latitude).toFixed(4)}, ${Number(site.longitude).toFixed(4)}`],
      ["近 30 天记录", `${late.records} 条，补录 ${late.late_records} 条${late.late_rate === null ? "" : `（${(late.late_rate * 100).toFixed(1)}%）`}`],
      ["最长补录延迟", late.worst_delay_s > 0 ? `${(late.worst_delay_s / 3600).toFixed(1)} 小时` : "—"],
    ];
    document.getElementById("facts").replaceChildren(el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
    cells(document.querySelector("#pending tbody"), site.pending, "没有等待消毒的批次。", (row) => {
      row.className = row.minutes_left < 0 ? "overdue" : row.minutes_left < 15 ? "soon" : "";
      const left = row.minutes_left < 0 ? `已超时 ${-row.minutes_left} 分钟` : `${row.minutes_left} 分钟`;
      return [row.batch, row.origin_kind === "imported" ? "进口" : "外埠国内", row.items, row.received, row.deadline, left + (row.dispatched ? "（已分发）" : "")];
    });
    cells(document.querySelector("#alerts tbody"), site.alerts, "近 30 天没有预警。", (row) => [
      row.raised,
      el("span", { class: `sev sev-${row.level}`, text: SEVERITY[row.level] || row.level }),
      el("a", { href: `/desk?alert=${row.id}&state=all`, text: row.title }),
      row.subject,
      row.due,
      row.resolved ? `${row.resolved}${LATE[row.late_reason] ? `（${LATE[row.late_reason]}）` : ""}` : "未解除",
    ]);
    document.getElementById("links").replaceChildren(
      el("a", { class: "button", href: `/d/tongfang-site?var-site=${encodeURIComponent(siteId)}&from=now-7d&to=now`, text: "网点看板" }),
      el("a", { class: "button", href: `/api/ledgers.xlsx?site=${encodeURIComponent(siteId)}&month=${new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai" }).format(new Date()).slice(0, 7)}`, text: "导出本月台账" }),
    );
  }

  async function loadTimeline() {
    const params = new URLSearchParams({ from: document.getElementById("span").value, to: "now" });
    if (document.getElementById("family").value) params.set("family", document.getElementById("family").value);
    const { events, count } = await api(`/api/sites/${encodeURIComponent(siteId)}/timeline?${params}`);
    document.getElementById("timeline-count").textContent = `${count} 条${count >= 500 ? "（仅显示最近 500 条）" : ""}`;
    cells(document.querySelector("#timeline tbody"), events, "所选范围内没有事件。", (row) => {
      row.className = row.late ? "late" : "";
      return [row.occurred, row.late ? `${row.received}（补录）` : row.received, window.tf.eventName(row.type), el("code", { text: payloadText(row.payload) })];
    });
  }

  async function start() {
    try {
      await window.tf.header("site");
      await loadSite();
      await loadTimeline();
    } catch (error) {
      notice(error.status === 404 ? "该网点不在您的辖区内或不存在。" : "无法加载：" + error.message);
    }
    for (const id of ["family", "span"]) document.getElementById(id).onchange = () => loadTimeline().catch((error) => notice(error.message));
    document.body.dataset.loaded = String(Date.now());
  }

  start();
})();
