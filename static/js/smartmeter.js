/*
 * Smart-meter page (MET-4). Every value cell says where its number lives in the snapshot's
 * meter part (data-source, "{dir}" = import/export by the purchase/feed-in selector) and how
 * to show it (data-unit, data-decimals, data-scale); this script only fills them in.
 */
(function () {
  "use strict";

  const K = window.KSEM;
  const config = K.readJson("live-config");
  const labels = K.readJson("live-labels");
  const meterLabels = K.readJson("meter-labels");
  const meterConfig = K.readJson("meter-config");
  if (!config || !config.plantId) return;

  const page = document.querySelector("[data-meter-page]");
  const form = document.getElementById("meter-view");
  const energyTable = document.querySelector("[data-energy-table]");
  const advancedToggle = K.byTestId("advanced-mode");
  const statusLines = K.StatusLines(config, labels);
  let lastState = K.readJson("initial-state");

  function lookup(meter, path) {
    let node = meter;
    const parts = path.split(".");
    for (let i = 0; i < parts.length; i += 1) {
      if (node === null || node === undefined) return null;
      node = node[parts[i]];
    }
    return K.isNumber(node) ? node : null;
  }

  function energyDirection() {
    const checked = document.querySelector('input[name="energy"]:checked');
    return checked && checked.value === "feed-in" ? "export" : "import";
  }

  /* A cell's source starts in the snapshot's meter part, or (data-root="state") at the snapshot itself. */
  function fillCells(state) {
    const dir = energyDirection();
    const meter = state ? state.meter || null : null;
    document.querySelectorAll("[data-source]").forEach(function (cell) {
      const source = cell.dataset.source;
      if (!source) return;
      const raw = lookup(cell.dataset.root === "state" ? state : meter, source.replace("{dir}", dir));
      const scale = parseFloat(cell.dataset.scale) || 1;
      const decimals = parseInt(cell.dataset.decimals, 10) || 0;
      K.setText(cell, K.formatUnit(K.isNumber(raw) ? raw * scale : null, decimals, cell.dataset.unit));
      K.setRaw(cell, "value", raw);
    });
  }

  /* Same scaling as meter.views.phase_bars. */
  function fillPhaseBars(meter) {
    const powers = [0, 1, 2].map(function (i) {
      return lookup(meter, "phases." + i + ".active_power_w");
    });
    const scale = Math.max.apply(
      null,
      [meterConfig.minBarScaleW].concat(
        powers.filter(K.isNumber).map(function (p) {
          return Math.abs(p);
        })
      )
    );
    powers.forEach(function (power, i) {
      const bar = document.querySelector('[data-phase-bar="' + i + '"]');
      const width = (50 * Math.abs(power || 0)) / scale;
      const feedIn = K.isNumber(power) && power < 0;
      bar.querySelector('[data-role="feed-in"]').style.width = (feedIn ? width : 0) + "%";
      bar.querySelector('[data-role="purchase"]').style.width = (feedIn ? 0 : width) + "%";
      K.setText(bar.querySelector('[data-role="value"]'), K.formatUnit(power, 0, "W"));
    });
  }

  function fillTotalPower(meter) {
    const power = lookup(meter, "active_power_w");
    const value = K.byTestId("total-active-power");
    const badge = K.byTestId("total-active-power-direction");
    K.setText(value, K.formatUnit(power, 0, "W"));
    K.setRaw(value, "valueW", power);
    let direction = "";
    if (K.isNumber(power)) direction = power > 0 ? "purchase" : power < 0 ? "feed-in" : "balanced";
    badge.dataset.direction = direction;
    K.setText(badge, { purchase: meterLabels.purchase, "feed-in": meterLabels.feedIn, balanced: meterLabels.balanced }[direction] || "");
  }

  function render(state) {
    if (state.plant_id !== config.plantId) return;
    lastState = state;
    const meter = state.meter || null;
    fillTotalPower(meter);
    fillPhaseBars(meter);
    fillCells(state);
    const notice = K.byTestId("no-measurement");
    if (notice) notice.hidden = Boolean(meter);
    statusLines.render(state);
  }

  /* Keep the view choices in the address, so a reload or a bookmark shows the same view. */
  function rememberView() {
    const url = new URL(window.location.href);
    url.searchParams.set("energy", energyDirection() === "export" ? "feed-in" : "purchase");
    if (advancedToggle.checked) url.searchParams.set("advanced", "1");
    else url.searchParams.delete("advanced");
    window.history.replaceState(null, "", url);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
  });
  document.querySelectorAll('input[name="energy"]').forEach(function (input) {
    input.addEventListener("change", function () {
      energyTable.dataset.energyDirection = energyDirection() === "export" ? "feed-in" : "purchase";
      if (lastState) fillCells(lastState);
      rememberView();
    });
  });
  advancedToggle.addEventListener("change", function () {
    page.classList.toggle("is-advanced", advancedToggle.checked);
    rememberView();
  });

  if (lastState) render(lastState);
  K.connectLive(config, labels, render);
})();
