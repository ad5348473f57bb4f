/*
 * The forecast chart (dashboard and forecast page): PV and house forecast for the next 36 hours
 * (dashed) against the measured 5-minute averages of the last 12 hours (solid), refreshed every
 * 15 minutes. URLs and translated labels come from the canvas's data attributes.
 */
(function () {
  "use strict";

  const K = window.KSEM;
  const canvas = document.getElementById("forecast-chart");
  if (!K || !canvas) return;
  const labels = canvas.dataset;
  const status = K.byTestId("forecast-status");
  const summary = K.byTestId("forecast-summary");
  const REFRESH_MS = 15 * 60 * 1000;
  const PAST_MS = 12 * 3600 * 1000;
  const AHEAD_MS = 36 * 3600 * 1000;
  const PV = "#f5a524";
  const HOUSE = "#1f7ae0";
  let chart = null;

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }

  function hourTicks(axis) {
    const ticks = [];
    const quarter = 15 * 60 * 1000;
    for (let t = Math.ceil(axis.min / quarter) * quarter; t <= axis.max; t += quarter) {
      if (K.formatTime(t).slice(3) === "00" && K.zonedHour(t) % 6 === 0) ticks.push({ value: t });
    }
    axis.ticks = ticks;
  }

  function series(label, color, dashed, data) {
    return {
      label: label,
      borderColor: color,
      backgroundColor: color,
      borderWidth: 2,
      borderDash: dashed ? [6, 4] : [],
      pointRadius: 0,
      tension: 0.2,
      spanGaps: false,
      data: data,
    };
  }

  function kw(value) {
    return K.isNumber(value) ? value / 1000 : null;
  }

  function datasets(forecast, history) {
    const slots = Array.isArray(forecast.slots) ? forecast.slots : [];
    const halfSlot = ((forecast.slot_s || 900) * 1000) / 2;
    const points = Array.isArray(history.points) ? history.points : [];
    const halfInterval = ((history.interval_s || 300) * 1000) / 2;
    function slotPoints(key) {
      return slots.map(function (s) {
        return { x: Date.parse(s.start) + halfSlot, y: kw(s[key]) };
      });
    }
    function actualPoints(key) {
      return points.map(function (p) {
        return { x: Date.parse(p.start) + halfInterval, y: kw(p[key]) };
      });
    }
    return [
      series(labels.labelPvForecast, PV, true, slotPoints("pv_w")),
      series(labels.labelLoadForecast, HOUSE, true, slotPoints("load_w")),
      series(labels.labelPvActual, PV, false, actualPoints("pv_power_w")),
      series(labels.labelLoadActual, HOUSE, false, actualPoints("house_power_w")),
    ];
  }

  function options(nowMs) {
    return {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      scales: {
        x: {
          type: "linear",
          min: nowMs - PAST_MS,
          max: nowMs + AHEAD_MS,
          afterBuildTicks: hourTicks,
          ticks: { callback: K.formatTime, maxRotation: 0 },
          grid: { color: "rgba(0, 0, 0, 0.05)" },
        },
        y: {
          beginAtZero: true,
          title: { display: true, text: labels.labelAxis },
          ticks: {
            callback: function (value) {
              return K.formatNumber(value, 1);
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

  function renderSummary(forecast, nowMs) {
    const slots = Array.isArray(forecast.slots) ? forecast.slots : [];
    let pvWh = 0;
    let loadWh = 0;
    const hours = (forecast.slot_s || 900) / 3600;
    slots.forEach(function (s) {
      const start = Date.parse(s.start);
      if (start >= nowMs - (forecast.slot_s || 900) * 1000 && start < nowMs + 24 * 3600 * 1000) {
        pvWh += s.pv_w * hours;
        loadWh += s.load_w * hours;
      }
    });
    summary.hidden = slots.length === 0;
    summary.dataset.pvWh = String(Math.round(pvWh));
    summary.dataset.loadWh = String(Math.round(loadWh));
    K.setText(
      summary,
      labels.labelPvDay + ": " + K.formatUnit(pvWh / 1000, 1, "kWh") + " · " + labels.labelLoadDay + ": " +
        K.formatUnit(loadWh / 1000, 1, "kWh")
    );
  }

  function draw(forecast, history) {
    const nowMs = Date.now();
    const sets = datasets(forecast, history);
    const empty = !forecast.slots || forecast.slots.length === 0;
    status.hidden = !empty;
    K.setText(status, labels.labelNoData);
    canvas.dataset.slots = String((forecast.slots || []).length);
    renderSummary(forecast, nowMs);
    if (!window.Chart) return;
    if (chart) {
      chart.data.datasets.forEach(function (dataset, index) {
        dataset.data = sets[index].data;
      });
      chart.options.scales.x.min = nowMs - PAST_MS;
      chart.options.scales.x.max = nowMs + AHEAD_MS;
      chart.update("none");
      return;
    }
    chart = new window.Chart(canvas, { type: "line", data: { datasets: sets }, options: options(nowMs) });
  }

  function load() {
    Promise.all([getJson(labels.forecastUrl), getJson(labels.historyUrl).catch(function () { return {}; })])
      .then(function (results) {
        draw(results[0], results[1]);
      })
      .catch(function () {
        status.hidden = false;
        K.setText(status, labels.labelError);
      });
  }

  load();
  window.setInterval(load, REFRESH_MS);
})();
