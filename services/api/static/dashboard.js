// Recovery dashboard: draws the report embedded in #report-data with the vendored Chart.js
// (/static/vendor/chart.umd.js). Every chart reads only that JSON; the page is complete without it.
(function () {
  "use strict";
  const source = document.getElementById("report-data");
  if (!source || typeof Chart === "undefined") return;
  const report = JSON.parse(source.textContent);
  const colors = { treated: "#1f5fbf", holdout: "#98a2b3", lift: "#12b76a", revenue: "#7a5af8", carts: "#d0d5dd" };
  const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  const label = (v, none) => (v === null || v === undefined ? none : String(v));
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false; // drawn once, and at once for screenshots

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const chart = new Chart(canvas, config);
    canvas.dataset.rendered = "true"; // browser tests wait for this
    return chart;
  }

  function percentAxis(title) {
    return { beginAtZero: true, title: { display: true, text: title }, ticks: { callback: (v) => v + "%" } };
  }

  // Treated vs holdout rate, and the incremental rate as a floating bar spanning its 95% interval
  const lift = report.incremental_recovery_rate;
  draw("chart-rate", {
    type: "bar",
    data: {
      labels: ["Treated", "Holdout", "Incremental"],
      datasets: [
        { label: "Recovery rate", data: [pct(report.recovery_rate), pct(report.holdout_recovery_rate), null],
          backgroundColor: [colors.treated, colors.holdout, colors.lift] },
        { label: "Incremental, 95% interval", data: [null, null, lift ? [pct(lift.ci95_low), pct(lift.ci95_high)] : null],
          backgroundColor: "rgba(18, 183, 106, 0.25)", borderColor: colors.lift, borderWidth: 1 },
        { type: "line", label: "Incremental estimate", data: [null, null, lift ? pct(lift.estimate) : null],
          borderColor: colors.lift, backgroundColor: colors.lift, pointRadius: 6, showLine: false },
      ],
    },
    options: { scales: { x: { stacked: true }, y: { title: { display: true, text: "% of carts" }, ticks: { callback: (v) => v + "%" } } } },
  });

  draw("chart-channel", {
    type: "bar",
    data: {
      labels: report.by_channel.map((r) => r.channel),
      datasets: [{ label: "Recovered revenue", data: report.by_channel.map((r) => r.recovered_revenue), backgroundColor: colors.revenue }],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: (report.currencies || []).join(", ") || "revenue" } } } },
  });

  function rateBars(id, rows, key, none) {
    draw(id, {
      type: "bar",
      data: {
        labels: rows.map((r) => label(r[key], none)),
        datasets: [{ label: "Recovery rate (treated carts)", data: rows.map((r) => pct(r.recovery_rate)), backgroundColor: colors.treated }],
      },
      options: {
        scales: { y: percentAxis("% recovered") },
        plugins: { tooltip: { callbacks: { afterLabel: (ctx) => rows[ctx.dataIndex].treated_carts + " carts" } } },
      },
    });
  }
  rateBars("chart-reason", report.by_reason, "reason", "not planned");
  rateBars("chart-bucket", report.by_bucket, "bucket", "not planned");

  draw("chart-touch", {
    type: "bar",
    data: {
      labels: report.by_touch.map((r) => "Touch " + r.touch),
      datasets: [
        { label: "Messages sent", data: report.by_touch.map((r) => r.messages_sent), backgroundColor: colors.carts, yAxisID: "y" },
        { label: "Recoveries credited", data: report.by_touch.map((r) => r.recovered_carts), backgroundColor: colors.treated, yAxisID: "y" },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "count" } } } },
  });

  draw("chart-daily", {
    data: {
      labels: report.daily.map((r) => r.date),
      datasets: [
        { type: "bar", label: "Abandoned carts", data: report.daily.map((r) => r.abandoned_carts), backgroundColor: colors.carts, yAxisID: "carts",
          order: 2 }, // behind the rate lines
        { type: "line", label: "Recovery rate, treated", data: report.daily.map((r) => pct(r.recovery_rate)), borderColor: colors.treated,
          backgroundColor: colors.treated, yAxisID: "rate", spanGaps: true, pointRadius: 2 },
        { type: "line", label: "Recovery rate, holdout", data: report.daily.map((r) => pct(r.holdout_recovery_rate)), borderColor: colors.holdout,
          backgroundColor: colors.holdout, yAxisID: "rate", spanGaps: true, pointRadius: 2 },
      ],
    },
    options: {
      scales: {
        carts: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "carts" } },
        rate: { type: "linear", position: "right", grid: { drawOnChartArea: false }, ...percentAxis("% recovered") },
      },
    },
  });
})();
