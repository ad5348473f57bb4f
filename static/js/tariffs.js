/*
 * Tariff overview (TAR-2): the period's energy and costs as a bar chart, drawn from the costs API.
 * A legend click shows or hides a series (Chart.js); the hidden series are written to the canvas
 * (data-hidden) and the drawn bars (data-bars) so tests and people can see what the chart holds.
 */
(function () {
  "use strict";

  const configElement = document.getElementById("tariff-chart-config");
  const canvas = document.getElementById("tariff-chart");
  if (!configElement || !canvas) return;
  const config = JSON.parse(configElement.textContent);
  const labels = config.labels;
  const status = document.querySelector("[data-testid=chart-status]");
  const ENERGY_COLOUR = "#1f7ae0";
  const COST_COLOUR = "#f5a524";
  const GAP_COLOUR = "rgba(31, 122, 224, 0.35)";

  function number(value, decimals) {
    return new Intl.NumberFormat(config.lang, { minimumFractionDigits: decimals, maximumFractionDigits: decimals }).format(value);
  }

  function barLabel(iso) {
    /* The API gives local times with their offset; the label is read from the text, not the browser's zone. */
    const date = iso.slice(0, 10);
    const time = iso.slice(11, 16);
    switch (config.period) {
      case "hour":
      case "day":
        return time;
      case "year":
        return date.slice(5, 7) + "/" + date.slice(0, 4);
      default:
        return date.slice(8, 10) + "." + date.slice(5, 7) + ".";
    }
  }

  function showStatus(text) {
    status.hidden = !text;
    status.textContent = text || "";
  }

  function syncHidden(chart) {
    const hidden = [];
    chart.data.datasets.forEach(function (dataset, index) {
      if (!chart.isDatasetVisible(index)) hidden.push(dataset.key);
    });
    canvas.dataset.hidden = hidden.join(",");
  }

  function draw(report) {
    const buckets = report.buckets || [];
    const toNumber = function (text) {
      return text === null || text === undefined ? null : Number(text);
    };
    const energy = buckets.map(function (b) {
      return toNumber(b.energy_kwh);
    });
    const cost = buckets.map(function (b) {
      return toNumber(b.cost);
    });
    /* Energy first: the legend and the bars read energy, then what it cost. */
    const datasets = [
      {
        key: "energy",
        label: labels.energy,
        data: energy,
        yAxisID: "y",
        backgroundColor: buckets.map(function (b) {
          return b.gap ? GAP_COLOUR : ENERGY_COLOUR;
        }),
        borderColor: ENERGY_COLOUR,
        borderWidth: buckets.map(function (b) {
          return b.gap ? 1 : 0;
        }),
      },
      {
        key: "cost",
        label: labels.cost,
        data: cost,
        yAxisID: "y1",
        backgroundColor: COST_COLOUR,
      },
    ];
    const chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: buckets.map(function (b) {
          return barLabel(b.start);
        }),
        datasets: datasets,
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: { position: "left", beginAtZero: true, title: { display: true, text: labels.energy } },
          y1: {
            position: "right",
            beginAtZero: true,
            grid: { drawOnChartArea: false },
            title: { display: true, text: labels.cost },
          },
        },
        plugins: {
          legend: {
            position: "bottom",
            onClick: function (event, item, legend) {
              window.Chart.defaults.plugins.legend.onClick.call(this, event, item, legend);
              syncHidden(legend.chart);
            },
          },
          tooltip: {
            callbacks: {
              label: function (item) {
                const decimals = item.dataset.key === "cost" ? 2 : 3;
                return item.dataset.label + ": " + (item.raw === null ? "–" : number(item.raw, decimals));
              },
              afterBody: function (items) {
                return items.length && buckets[items[0].dataIndex].gap ? labels.gap : "";
              },
            },
          },
        },
      },
    });
    canvas.dataset.bars = String(buckets.length);
    syncHidden(chart);
    window.KSEM_TARIFF_CHART = chart;
    const hasData = energy.some(function (value) {
      return value !== null;
    });
    showStatus(hasData ? "" : labels.noData);
  }

  if (!window.Chart) {
    showStatus(labels.error);
    return;
  }
  fetch(config.apiUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(draw)
    .catch(function () {
      showStatus(labels.error);
    });
})();
