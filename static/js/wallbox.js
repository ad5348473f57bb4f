/*
 * Wallbox pages (WB-3, WB-5, WB-11, WB-13):
 * - phase-load chart: current per phase at the grid point and from charging, against the fuse (Chart.js);
 * - countdowns of the controller's timers (hysteresis, phase check), counted down in the browser;
 * - the Solar Plus share slider's value;
 * - the Time Mode weekly editor: select hours (drag, or a day / hour heading for a whole row or
 *   column), pick a mode and assign it, copy a day to all days. The week travels in the hidden
 *   "days" field: seven ";"-separated days of 24 ","-separated modes, checked again by the server;
 * - firmware upload with upload progress (XHR) and the box's transfer progress (polled).
 */
(function () {
  "use strict";

  /* --- phase load ------------------------------------------------------------------------- */
  const loadData = document.getElementById("phase-load-data");
  const canvas = document.getElementById("phase-load-chart");
  if (loadData && canvas && window.Chart) {
    const load = JSON.parse(loadData.textContent);
    const labels = load.grid_a.map(function (_, i) { return "L" + (i + 1); });
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: "Grid (A)", data: load.grid_a, backgroundColor: load.over_fuse.map(function (o) { return o ? "#a8262b" : "#1f7ae0"; }) },
          { label: "Charging (A)", data: load.charging_a, backgroundColor: "#58a55c" },
          { type: "line", label: "Fuse (A)", data: labels.map(function () { return load.fuse_a; }), borderColor: "#a8262b", borderDash: [6, 4], pointRadius: 0, fill: false },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, suggestedMax: load.fuse_a * 1.1 } } },
    });
  }

  /* --- charging plan timeline (issue 19.3): planned power per 15-minute slot, solar and grid --- */
  const planData = document.getElementById("plan-data");
  const planCanvas = document.getElementById("plan-chart");
  if (planData && planCanvas && window.Chart) {
    const plan = JSON.parse(planData.textContent);
    const labels = plan.slots.map(function (s) {
      return new Date(s.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
    new window.Chart(planCanvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: [
          { label: planCanvas.dataset.labelSolar, data: plan.slots.map(function (s) { return s.solar_w / 1000; }), backgroundColor: "#e8b923", stack: "p" },
          { label: planCanvas.dataset.labelGrid, data: plan.slots.map(function (s) { return Math.max(0, s.power_w - s.solar_w) / 1000; }), backgroundColor: "#1f7ae0", stack: "p" },
          { type: "line", label: planCanvas.dataset.labelPrice, data: plan.slots.map(function (s) { return s.price; }), borderColor: "#a8262b", pointRadius: 0, stepped: true, yAxisID: "price" },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, stacked: true }, x: { stacked: true }, price: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } } } },
    });
  }

  /* --- countdowns --------------------------------------------------------------------------- */
  const countdowns = Array.from(document.querySelectorAll("[data-countdown]"));
  if (countdowns.length) {
    const started = Date.now();
    const tick = function () {
      const elapsed = (Date.now() - started) / 1000;
      countdowns.forEach(function (el) {
        const left = Math.max(0, Math.round(Number(el.dataset.countdown) - elapsed));
        el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + " min";
      });
    };
    tick();
    setInterval(tick, 1000);
  }

  /* --- Solar Plus slider -------------------------------------------------------------------- */
  const slider = document.querySelector("input[name=solar_plus_min_share_pct]");
  const sliderOutput = document.querySelector("[data-share-output]");
  if (slider && sliderOutput) {
    slider.addEventListener("input", function () { sliderOutput.textContent = slider.value; });
  }

  /* --- Time Mode editor ------------------------------------------------------------------------ */
  const editor = document.querySelector("[data-time-mode-editor]");
  if (editor && editor.querySelector("[data-assign]")) {
    const table = editor.querySelector("[data-mode-grid]");
    const field = editor.querySelector("input[name=days]");
    const countLabel = editor.querySelector("[data-selection-count]");
    const cells = Array.from(table.querySelectorAll("td[data-day]"));
    const selected = new Set();
    const grid = Array.from({ length: 7 }, function () { return new Array(24).fill("power"); });
    cells.forEach(function (cell) { grid[Number(cell.dataset.day)][Number(cell.dataset.hour)] = cell.dataset.mode; });
    let drag = null;

    const key = function (d, h) { return d + "," + h; };
    const render = function () {
      cells.forEach(function (cell) {
        const d = Number(cell.dataset.day), h = Number(cell.dataset.hour);
        cell.dataset.mode = grid[d][h];
        cell.title = grid[d][h];
        cell.classList.toggle("is-selected", selected.has(key(d, h)));
      });
      field.value = grid.map(function (day) { return day.join(","); }).join(";");
      countLabel.textContent = selected.size ? selected.size + " h" : "";
    };
    const setRect = function (from, to, on, base) {
      selected.clear();
      base.forEach(function (k) { selected.add(k); });
      for (let d = Math.min(from[0], to[0]); d <= Math.max(from[0], to[0]); d++) {
        for (let h = Math.min(from[1], to[1]); h <= Math.max(from[1], to[1]); h++) {
          if (on) selected.add(key(d, h)); else selected.delete(key(d, h));
        }
      }
      render();
    };
    const position = function (cell) { return [Number(cell.dataset.day), Number(cell.dataset.hour)]; };
    const toggleMany = function (keys) {
      const allOn = keys.every(function (k) { return selected.has(k); });
      keys.forEach(function (k) { if (allOn) selected.delete(k); else selected.add(k); });
      render();
    };

    table.addEventListener("pointerdown", function (event) {
      const cell = event.target.closest("td[data-day]");
      if (!cell) return;
      event.preventDefault();
      const start = position(cell);
      drag = { start: start, on: !selected.has(key(start[0], start[1])), base: new Set(selected) };
      setRect(start, start, drag.on, drag.base);
    });
    table.addEventListener("pointerover", function (event) {
      const cell = event.target.closest("td[data-day]");
      if (drag && cell) setRect(drag.start, position(cell), drag.on, drag.base);
    });
    document.addEventListener("pointerup", function () { drag = null; });
    table.querySelectorAll("[data-day-head]").forEach(function (head) {
      head.addEventListener("click", function () {
        const d = Number(head.dataset.dayHead);
        toggleMany(Array.from({ length: 24 }, function (_, h) { return key(d, h); }));
      });
    });
    table.querySelectorAll("[data-hour-head]").forEach(function (head) {
      head.addEventListener("click", function () {
        const h = Number(head.dataset.hourHead);
        toggleMany(Array.from({ length: 7 }, function (_, d) { return key(d, h); }));
      });
    });
    editor.querySelector("[data-assign]").addEventListener("click", function () {
      const picked = editor.querySelector("input[name=pick]:checked");
      if (!picked) return;
      selected.forEach(function (k) {
        const p = k.split(",").map(Number);
        grid[p[0]][p[1]] = picked.value;
      });
      selected.clear();
      render();
    });
    editor.querySelector("[data-clear-selection]").addEventListener("click", function () { selected.clear(); render(); });
    editor.querySelector("[data-copy-all]").addEventListener("click", function () {
      const from = Number(editor.querySelector("[data-copy-from]").value);
      for (let d = 0; d < 7; d++) grid[d] = grid[from].slice();
      render();
    });
    render();
  }

  /* --- firmware upload ------------------------------------------------------------------------- */
  const firmwareForm = document.querySelector("[data-firmware-form]");
  if (firmwareForm && window.XMLHttpRequest && window.FormData) {
    const uploadBar = firmwareForm.querySelector("[data-upload-progress]");
    const updateBar = firmwareForm.querySelector("[data-update-progress]");
    const message = firmwareForm.querySelector("[data-update-message]");
    const poll = function () {
      fetch(firmwareForm.dataset.progressUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          updateBar.value = p.progress_pct;
          message.textContent = p.message;
          message.dataset.state = p.state;
          if (p.state === "running") setTimeout(poll, 1000);
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    if (message.dataset.state === "running") poll();
    firmwareForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const xhr = new XMLHttpRequest();
      xhr.open("POST", firmwareForm.action || window.location.href);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) uploadBar.value = (100 * e.loaded) / e.total;
      });
      xhr.addEventListener("load", function () {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
        if (xhr.status === 202) {
          uploadBar.value = 100;
          poll();
        } else {
          const errors = body.errors && body.errors.firmware ? body.errors.firmware : [{ message: xhr.statusText }];
          message.textContent = errors.map(function (e) { return e.message; }).join(" ");
          message.dataset.state = "failed";
        }
      });
      xhr.send(new FormData(firmwareForm));
    });
  }
})();
