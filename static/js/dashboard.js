/*
 * Dashboard (PL-3): energy flow, battery SoC, totals and messages updated from every live
 * message, and the 24-hour history chart refreshed every 5 minutes.
 */
(function () {
  "use strict";

  const K = window.KSEM;
  const config = K.readJson("live-config");
  const labels = K.readJson("live-labels");
  const chartLabels = K.readJson("chart-labels");
  if (!config || !config.plantId) return;

  const NODES = ["pv", "grid", "house", "battery", "wallbox"];
  const HISTORY_REFRESH_MS = 5 * 60 * 1000;
  const statusLines = K.StatusLines(config, labels);

  /* Same rules as plant.views.flow_direction: lines run from the node to the house. */
  function flowDirection(node, powerW) {
    if (!K.isNumber(powerW)) return "none";
    if (Math.abs(powerW) < config.idlePowerW) return "idle";
    const flowsIn = { pv: powerW > 0, grid: powerW > 0, battery: powerW < 0, wallbox: false }[node];
    return flowsIn ? "to-house" : "from-house";
  }

  function flowCaption(node, powerW) {
    if (!K.isNumber(powerW)) return labels.notConfigured;
    if (Math.abs(powerW) < config.idlePowerW) return labels.idle;
    switch (node) {
      case "pv":
        return labels.production;
      case "grid":
        return powerW > 0 ? labels.purchase : labels.feedIn;
      case "battery":
        return powerW > 0 ? labels.charging : labels.discharging;
      case "house":
        return labels.consumption;
      default:
        return labels.charging;
    }
  }

  function renderFlow(flow) {
    NODES.forEach(function (node) {
      const powerW = flow[node + "_power_w"];
      const value = K.byTestId(node + "-power");
      const group = document.querySelector('[data-node="' + node + '"]');
      K.setText(value, K.formatPower(powerW));
      K.setRaw(value, "valueW", powerW);
      group.dataset.missing = String(!K.isNumber(powerW));
      K.setText(group.querySelector('[data-role="caption"]'), flowCaption(node, powerW));
      const line = K.byTestId("flow-" + node);
      if (line) line.dataset.direction = flowDirection(node, powerW);
    });
  }

  function renderSoc(socPct) {
    const box = document.querySelector("[data-soc]");
    const value = K.byTestId("battery-soc");
    const known = K.isNumber(socPct);
    const clamped = known ? Math.min(Math.max(socPct, 0), 100) : 0;
    box.classList.toggle("is-missing", !known);
    K.setText(value, known ? K.formatNumber(socPct, 0) + " %" : "–");
    K.setRaw(value, "valuePct", socPct);
    box.querySelector('[data-role="soc-fill"]').style.width = clamped + "%";
    box.querySelector('[role="meter"]').setAttribute("aria-valuenow", String(clamped));
    box.querySelector('[data-role="soc-note"]').hidden = known;
    document.querySelector('[data-role="battery-fill"]').setAttribute("width", String((14 * clamped) / 100));
  }

  function renderTotals(totals) {
    [
      ["total-purchase", totals.active_import_wh],
      ["total-feed-in", totals.active_export_wh],
    ].forEach(function (entry) {
      const element = K.byTestId(entry[0]);
      K.setText(element, K.formatUnit(K.isNumber(entry[1]) ? entry[1] / 1000 : null, 2, "kWh"));
      K.setRaw(element, "valueWh", entry[1]);
    });
  }

  function renderMessages(messages) {
    const list = K.byTestId("messages");
    const wanted = JSON.stringify(messages || []);
    if (list.dataset.rendered === wanted) return;
    list.dataset.rendered = wanted;
    list.replaceChildren.apply(
      list,
      (messages || []).map(function (text) {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      })
    );
  }

  function render(state) {
    if (state.plant_id !== config.plantId) return;
    renderFlow(state.flow || {});
    renderSoc(state.flow ? state.flow.battery_soc_pct : null);
    renderTotals(state.totals || {});
    renderMessages(state.messages);
    statusLines.render(state);
  }

  /* ---- 24-hour history ------------------------------------------------------------------ */

  const canvas = document.getElementById("history-chart");
  const chartStatus = K.byTestId("history-status");
  const SERIES = [
    { key: "grid_power_w", label: chartLabels.grid, color: "#e5484d" },
    { key: "pv_power_w", label: chartLabels.pv, color: "#f5a524" },
    { key: "house_power_w", label: chartLabels.house, color: "#1f7ae0" },
  ];
  let chart = null;

  function timeLabel(ms) {
    return K.formatTime(ms);
  }

  /* Ticks on full hours of the plant's time zone divisible by 3, so the axis reads 00:00, 03:00 ...
     (half-hour zones tick on their own full hours). */
  function hourTicks(axis) {
    const ticks = [];
    const quarter = 15 * 60 * 1000;
    for (let t = Math.ceil(axis.min / quarter) * quarter; t <= axis.max; t += quarter) {
      if (K.formatTime(t).slice(3) === "00" && K.zonedHour(t) % 3 === 0) ticks.push({ value: t });
    }
    axis.ticks = ticks;
  }

  function chartOptions(nowMs) {
    return {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: {
          type: "linear",
          min: nowMs - 24 * 3600 * 1000,
          max: nowMs,
          afterBuildTicks: hourTicks,
          ticks: { callback: timeLabel, maxRotation: 0 },
          grid: { color: "rgba(0, 0, 0, 0.05)" },
        },
        y: {
          title: { display: true, text: chartLabels.axis },
          ticks: {
            callback: function (value) {
              return K.formatNumber(value, 1);
            },
          },
          grid: {
            color: function (context) {
              return context.tick && context.tick.value === 0 ? "rgba(0, 0, 0, 0.35)" : "rgba(0, 0, 0, 0.06)";
            },
          },
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { usePointStyle: true, boxHeight: 8 } },
        tooltip: {
          callbacks: {
            title: function (items) {
              return items.length ? K.formatDateTime(new Date(items[0].parsed.x).toISOString()) : "";
            },
            label: function (item) {
              return item.dataset.label + ": " + K.formatNumber(item.parsed.y, 2) + " kW";
            },
          },
        },
      },
    };
  }

  /* A missing interval (the plant was down) must show as a gap, not as a line across it. */
  function withGaps(points, intervalMs) {
    const result = [];
    points.forEach(function (point, index) {
      const startMs = Date.parse(point.start);
      if (index > 0 && startMs - Date.parse(points[index - 1].start) > 1.5 * intervalMs) {
        result.push({ start: new Date(startMs - intervalMs).toISOString() });
      }
      result.push(point);
    });
    return result;
  }

  function datasets(points) {
    return SERIES.map(function (series) {
      return {
        label: series.label,
        borderColor: series.color,
        backgroundColor: series.color,
        borderWidth: 2,
        pointRadius: 0,
        tension: 0.25,
        spanGaps: false,
        data: points.map(function (point) {
          const value = point[series.key];
          return { x: Date.parse(point.start), y: K.isNumber(value) ? value / 1000 : null };
        }),
      };
    });
  }

  function drawHistory(points) {
    const nowMs = Date.now();
    chartStatus.hidden = points.length > 0;
    K.setText(chartStatus, chartLabels.noData);
    if (!window.Chart) return;
    if (chart) {
      // Replace the data only, so series hidden from the legend stay hidden.
      const fresh = datasets(points);
      chart.data.datasets.forEach(function (dataset, index) {
        dataset.data = fresh[index].data;
      });
      chart.options.scales.x.min = nowMs - 24 * 3600 * 1000;
      chart.options.scales.x.max = nowMs;
      chart.update("none");
      return;
    }
    chart = new window.Chart(canvas, { type: "line", data: { datasets: datasets(points) }, options: chartOptions(nowMs) });
  }

  function loadHistory() {
    fetch(config.historyUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        const points = Array.isArray(data.points) ? data.points : [];
        drawHistory(withGaps(points, (data.interval_s || 300) * 1000));
      })
      .catch(function () {
        chartStatus.hidden = false;
        K.setText(chartStatus, chartLabels.error);
      });
  }

  const initial = K.readJson("initial-state");
  if (initial) render(initial);
  K.connectLive(config, labels, render);
  loadHistory();
  window.setInterval(loadHistory, HISTORY_REFRESH_MS);
})();
