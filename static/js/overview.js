/*
 * Plant overview (PL-2): every section refreshed from each live snapshot, and the feed-in
 * limit calculator of the settings form. The rules mirror plant/overview.py (same names), so
 * the page looks the same before and after the first live message.
 */
(function () {
  "use strict";

  const K = window.KSEM;
  const config = K.readJson("live-config");
  const labels = K.readJson("live-labels");
  const L = K.readJson("overview-labels");
  if (!config || !config.plantId) return;

  const LIMIT_QUANTITY = "active_power_limit_pct";
  const FEED_IN_CONTROLLER = "feed_in_limitation";
  const BATTERY_CONTROLLER = "battery_management";
  const SOURCES = ["pv", "battery", "grid"];
  const PHASES = ["L1", "L2", "L3"];
  const UNKNOWN = "–";
  const statusLines = K.StatusLines(config, labels);

  function num(value) {
    return K.isNumber(value) ? value : null;
  }

  function formatPct(value) {
    return K.isNumber(value) ? K.formatNumber(value, 0) + " %" : UNKNOWN;
  }

  function section(name) {
    return document.querySelector('[data-section="' + name + '"]');
  }

  function role(root, name) {
    return root.querySelector('[data-role="' + name + '"]');
  }

  function show(element, visible) {
    if (element) element.hidden = !visible;
  }

  /* plant.overview.consumption_power_w: the house and the wallboxes. */
  function consumptionPower(flow) {
    const house = num(flow.house_power_w);
    if (house === null) return null;
    return Math.max(house, 0) + Math.max(num(flow.wallbox_power_w) || 0, 0);
  }

  /* plant.overview.consumption_sources: PV first, then a discharging battery, then the grid. */
  function consumptionSources(flow) {
    const total = consumptionPower(flow);
    const present = [];
    if (num(flow.pv_power_w) !== null) present.push("pv");
    if (num(flow.battery_power_w) !== null) present.push("battery");
    present.push("grid");
    if (total === null) {
      return present.map(function (source) {
        return { source: source, powerW: null, pct: null };
      });
    }
    let remaining = total;
    const offered = {
      pv: Math.max(num(flow.pv_power_w) || 0, 0),
      battery: Math.max(-(num(flow.battery_power_w) || 0), 0),
      grid: remaining,
    };
    return present.map(function (source) {
      const power = Math.min(offered[source], remaining);
      remaining -= power;
      return { source: source, powerW: power, pct: total > 0 ? (100 * power) / total : null };
    });
  }

  /* plant.overview.grid_to_battery_w */
  function gridToBattery(flow) {
    const grid = num(flow.grid_power_w);
    const battery = num(flow.battery_power_w);
    if (grid === null || battery === null || battery <= 0) return null;
    const share = consumptionSources(flow).find(function (s) {
      return s.source === "grid";
    });
    if (!share || share.powerW === null) return null;
    const extra = Math.max(grid, 0) - share.powerW;
    return extra >= config.idlePowerW ? Math.min(extra, battery) : null;
  }

  /* plant.overview.format_duration */
  function formatDuration(seconds) {
    if (!K.isNumber(seconds)) return UNKNOWN;
    const minutes = Math.floor(Math.max(seconds, 0) / 60);
    return Math.floor(minutes / 60) + ":" + String(minutes % 60).padStart(2, "0") + " h";
  }

  function batteryDirection(powerW) {
    if (!K.isNumber(powerW)) return "";
    if (Math.abs(powerW) < config.idlePowerW) return "idle";
    return powerW > 0 ? "charging" : "discharging";
  }

  function findController(state, name) {
    return (state.controllers || []).find(function (c) {
      return c.name === name;
    });
  }

  function limitSetpoints(state) {
    const result = {};
    (state.setpoints || []).forEach(function (s) {
      if (s.quantity === LIMIT_QUANTITY) result[s.device] = s;
    });
    return result;
  }

  function controllerLabel(name) {
    if (L.controllers[name]) return L.controllers[name];
    const words = name.replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function timersNode(timers) {
    const fragment = document.createDocumentFragment();
    (timers || []).forEach(function (timer) {
      const span = document.createElement("span");
      span.className = "timer";
      span.append(timer.name + " ");
      const value = document.createElement("b");
      value.textContent = K.formatNumber(Math.max(timer.seconds_left, 0), 0) + " s";
      span.append(value);
      fragment.append(span);
    });
    return fragment;
  }

  /* Replaces children only when the content changed, so nothing flickers every second. */
  function fill(element, key, build) {
    if (!element || element.dataset.rendered === key) return;
    element.dataset.rendered = key;
    element.replaceChildren(build());
  }

  function renderControllerLine(element, status) {
    if (!element) return;
    show(element, Boolean(status));
    if (!status) return;
    element.classList.toggle("is-error", status.state === "failed");
    const badge = role(element, "state");
    badge.dataset.state = status.state;
    K.setText(badge, L.states[status.state] || status.state);
    K.setText(role(element, "reason"), status.reason || "");
    K.setText(role(element, "error"), status.error || "");
    fill(role(element, "timers"), JSON.stringify(status.timers || []), function () {
      return timersNode(status.timers);
    });
  }

  /* ---- sections --------------------------------------------------------------------------- */

  function renderConsumption(state) {
    const flow = state.flow || {};
    const total = K.byTestId("consumption-total");
    const totalW = consumptionPower(flow);
    K.setText(total, K.formatPower(totalW));
    K.setRaw(total, "valueW", totalW);
    const house = K.byTestId("house-consumption");
    K.setText(house, K.formatPower(flow.house_power_w));
    K.setRaw(house, "valueW", flow.house_power_w);
    const wallboxW = num(flow.wallbox_power_w);
    show(K.byTestId("wallbox-consumption-item"), wallboxW !== null);
    const wallbox = K.byTestId("wallbox-consumption");
    K.setText(wallbox, K.formatPower(wallboxW));
    K.setRaw(wallbox, "valueW", wallboxW);
    const toBattery = gridToBattery(flow);
    const note = K.byTestId("grid-to-battery");
    K.setText(note, toBattery === null ? "" : L.gridToBattery.replace("%(power)s", K.formatPower(toBattery)));
    show(note, toBattery !== null);
    const shares = {};
    consumptionSources(flow).forEach(function (share) {
      shares[share.source] = share;
    });
    SOURCES.forEach(function (source) {
      const share = shares[source];
      const row = K.byTestId("source-" + source);
      show(row, Boolean(share));
      K.setText(role(row, "power"), K.formatPower(share ? share.powerW : null));
      K.setText(role(row, "pct"), formatPct(share ? share.pct : null));
      K.setRaw(role(row, "pct"), "valuePct", share ? share.pct : null);
      const width = share && K.isNumber(share.pct) ? Math.min(Math.max(share.pct, 0), 100) : 0;
      document.querySelector('[data-role="bar-' + source + '"]').style.width = width + "%";
    });
  }

  function renderLimitation(state) {
    const setpoints = Object.values(limitSetpoints(state));
    const byName = limitSetpoints(state);
    const enabled = K.isNumber(state.feed_in_limit_w);
    const status = K.byTestId("limitation-status");
    status.dataset.state = enabled ? "on" : "off";
    K.setText(status, enabled ? L.on : L.off);
    K.setText(K.byTestId("limitation-limit"), K.formatPower(state.feed_in_limit_w));
    let totalW = null;
    let generatorW = 0;
    (state.inverters || []).forEach(function (inverter) {
      generatorW += inverter.max_ac_w;
      const setpoint = byName[inverter.name];
      if (setpoint) totalW = (totalW || 0) + (setpoint.value * inverter.max_ac_w) / 100;
    });
    if (!setpoints.length) totalW = null;
    K.setText(K.byTestId("limitation-setpoint"), K.formatPower(totalW));
    K.setText(
      K.byTestId("limitation-setpoint-pct"),
      totalW === null ? "" : formatPct(generatorW ? (100 * totalW) / generatorW : null) + " " + L.ofGenerator
    );
    const reasons = [];
    setpoints.forEach(function (s) {
      if (s.reason && reasons.indexOf(s.reason) < 0) reasons.push(s.reason);
    });
    const reason = K.byTestId("limitation-reason");
    K.setText(reason, reasons.join("; "));
    show(reason, reasons.length > 0);
    renderControllerLine(K.byTestId("limitation-controller"), findController(state, FEED_IN_CONTROLLER));
  }

  function renderPv(state) {
    const pvW = state.flow ? state.flow.pv_power_w : null;
    const present = K.isNumber(pvW) || (state.inverters || []).length > 0;
    show(section("pv"), present);
    const value = K.byTestId("pv-power");
    K.setText(value, K.formatPower(pvW));
    K.setRaw(value, "valueW", pvW);
  }

  /* plant.overview.battery_view: the product's battery, else a hybrid inverter's, else the flow's. */
  function batteryOf(state) {
    const battery = state.battery;
    if (battery) {
      return {
        name: battery.name,
        powerW: battery.power_w,
        socPct: battery.soc_pct,
        online: battery.status.online,
        error: battery.status.error,
        limits: true,
        chargeLimitW: battery.charge_limit_w,
        chargeReason: battery.charge_limit_reason,
        dischargeLimitW: battery.discharge_limit_w,
        dischargeReason: battery.discharge_limit_reason,
      };
    }
    const hybrid = (state.inverters || []).find(function (i) {
      return K.isNumber(i.battery_power_w) || K.isNumber(i.battery_soc_pct);
    });
    if (hybrid) {
      return {
        name: hybrid.name,
        powerW: hybrid.battery_power_w,
        socPct: hybrid.battery_soc_pct,
        online: hybrid.status.online,
        error: hybrid.status.error,
        limits: false,
      };
    }
    const flow = state.flow || {};
    if (K.isNumber(flow.battery_power_w) || K.isNumber(flow.battery_soc_pct)) {
      return { name: "", powerW: flow.battery_power_w, socPct: flow.battery_soc_pct, online: true, error: "", limits: false };
    }
    return null;
  }

  function limitText(limitW, known) {
    if (!known) return UNKNOWN;
    return K.isNumber(limitW) ? K.formatPower(limitW) : L.inactive;
  }

  function renderBattery(state) {
    const battery = batteryOf(state);
    show(section("battery"), Boolean(battery));
    if (!battery) return;
    K.setText(K.byTestId("battery-name"), battery.name);
    const power = K.byTestId("battery-power");
    K.setText(power, K.formatPower(battery.powerW));
    K.setRaw(power, "valueW", battery.powerW);
    const direction = batteryDirection(battery.powerW);
    const badge = K.byTestId("battery-state");
    badge.dataset.state = battery.online ? direction : "error";
    K.setText(badge, battery.online ? L[direction] || UNKNOWN : L.error);
    const error = K.byTestId("battery-error");
    K.setText(error, battery.online ? "" : battery.error || "");
    show(error, !battery.online);
    const soc = K.byTestId("battery-soc");
    K.setText(soc, formatPct(battery.socPct));
    K.setRaw(soc, "valuePct", battery.socPct);
    const clamped = K.isNumber(battery.socPct) ? Math.min(Math.max(battery.socPct, 0), 100) : 0;
    const box = section("battery");
    role(box, "soc-fill").style.width = clamped + "%";
    box.querySelector('[role="meter"]').setAttribute("aria-valuenow", String(clamped));
    K.setText(K.byTestId("battery-charge-limit"), limitText(battery.chargeLimitW, battery.limits));
    K.setText(K.byTestId("battery-charge-limit-reason"), battery.chargeReason || "");
    K.setText(K.byTestId("battery-discharge-limit"), limitText(battery.dischargeLimitW, battery.limits));
    K.setText(K.byTestId("battery-discharge-limit-reason"), battery.dischargeReason || "");
    renderControllerLine(K.byTestId("battery-controller"), findController(state, BATTERY_CONTROLLER));
  }

  function renderGrid(state) {
    const meter = state.meter || null;
    const status = state.meter_status || {};
    const powerW = meter ? meter.active_power_w : null;
    const power = K.byTestId("grid-power");
    K.setText(power, K.formatUnit(powerW, 0, "W"));
    K.setRaw(power, "valueW", powerW);
    const direction = !K.isNumber(powerW) ? "" : powerW > 0 ? "purchase" : powerW < 0 ? "feed-in" : "";
    const directionBadge = K.byTestId("grid-direction");
    directionBadge.dataset.state = direction;
    K.setText(directionBadge, direction === "purchase" ? L.purchase : direction === "feed-in" ? L.feedIn : "");
    show(directionBadge, Boolean(direction));
    const badge = K.byTestId("grid-status");
    badge.dataset.state = status.online ? "ok" : "error";
    K.setText(badge, status.online ? L.ok : L.error);
    K.setText(K.byTestId("grid-error"), status.online ? "" : status.error || "");
    K.setText(K.byTestId("grid-frequency"), K.formatUnit(meter ? meter.frequency_hz : null, 2, "Hz"));
    K.setText(K.byTestId("grid-cos-phi"), K.formatUnit(meter ? meter.power_factor : null, 3, ""));
    PHASES.forEach(function (label, index) {
      const phase = meter && meter.phases ? meter.phases[index] : null;
      K.setText(K.byTestId("grid-voltage-" + label), K.formatUnit(phase ? phase.voltage_v : null, 1, "V"));
      K.setText(K.byTestId("grid-current-" + label), K.formatUnit(phase ? phase.current_a : null, 2, "A"));
      K.setText(K.byTestId("grid-power-" + label), K.formatUnit(phase ? phase.active_power_w : null, 0, "W"));
    });
  }

  /* Rows keyed by name: existing rows are updated in place, new ones cloned from the template. */
  function syncRows(body, templateId, items, update) {
    const template = document.getElementById(templateId);
    const existing = {};
    body.querySelectorAll("tr[data-name]").forEach(function (row) {
      existing[row.dataset.name] = row;
    });
    const rows = items.map(function (item) {
      let row = existing[item.name];
      if (!row) {
        row = template.content.firstElementChild.cloneNode(true);
        row.dataset.name = item.name;
      }
      update(row, item);
      return row;
    });
    const current = Array.from(body.children);
    const same = current.length === rows.length && rows.every((row, i) => current[i] === row);
    if (!same) body.replaceChildren.apply(body, rows);
  }

  function renderInverters(state) {
    const inverters = state.inverters || [];
    show(section("inverters"), inverters.length > 0);
    const setpoints = limitSetpoints(state);
    syncRows(K.byTestId("inverter-rows"), "inverter-row-template", inverters, function (row, inverter) {
      const online = Boolean(inverter.status && inverter.status.online);
      const setpoint = setpoints[inverter.name];
      const limitPct = setpoint ? setpoint.value : inverter.limit_pct;
      row.dataset.online = String(online);
      row.classList.toggle("is-error", !online);
      K.setText(role(row, "name"), inverter.name);
      K.setText(role(row, "type"), L.types[inverter.type] || inverter.type);
      const output = role(row, "output");
      K.setText(output, K.formatPower(inverter.ac_power_w));
      K.setRaw(output, "valueW", inverter.ac_power_w);
      const limit = role(row, "limit");
      limit.classList.toggle("tag", !inverter.controllable);
      K.setText(limit, inverter.controllable ? formatPct(limitPct) : L.monitoredOnly);
      K.setText(role(row, "limit-reason"), setpoint ? setpoint.reason || "" : "");
      const status = role(row, "status");
      status.dataset.state = online ? "ok" : "error";
      K.setText(status, online ? L.ok : L.error);
      K.setText(role(row, "error"), online ? "" : inverter.status.error || "");
    });
  }

  function renderWallboxes(state) {
    const boxes = state.wallboxes || [];
    show(section("wallboxes"), boxes.length > 0);
    syncRows(K.byTestId("wallbox-rows"), "wallbox-row-template", boxes, function (row, box) {
      const online = Boolean(box.status && box.status.online);
      row.dataset.online = String(online);
      row.dataset.state = box.state;
      row.classList.toggle("is-error", !online);
      K.setText(role(row, "name"), box.name);
      const badge = role(row, "state");
      badge.dataset.state = online ? box.state : "error";
      K.setText(badge, online ? L.wallboxStates[box.state] || box.state : L.noAnswer);
      K.setText(role(row, "reason"), box.reason || "");
      K.setText(role(row, "error"), online ? "" : box.status.error || "");
      let code = UNKNOWN;
      if (K.isNumber(box.status_code)) code = box.status_code + " (" + (L.statusCodes[String(box.status_code)] || "?") + ")";
      if (box.error_code) code += " · " + L.errorCode.replace("%(code)s", String(box.error_code));
      K.setText(role(row, "status-code"), code);
      const power = role(row, "power");
      K.setText(power, K.formatPower(box.power_w));
      K.setRaw(power, "valueW", box.power_w);
      const session = Boolean(box.vehicle_connected);
      const energy = session && K.isNumber(box.session_energy_wh) ? K.formatNumber(box.session_energy_wh / 1000, 2) + " kWh" : UNKNOWN;
      K.setText(role(row, "energy"), energy);
      K.setText(role(row, "duration"), session ? formatDuration(box.session_duration_s) : UNKNOWN);
    });
  }

  function renderControllers(state) {
    const controllers = state.controllers || [];
    show(section("controllers"), controllers.length > 0);
    syncRows(K.byTestId("controller-rows"), "controller-row-template", controllers, function (row, status) {
      row.dataset.state = status.state;
      row.classList.toggle("is-error", status.state === "failed");
      K.setText(role(row, "label"), controllerLabel(status.name));
      const badge = role(row, "state");
      badge.dataset.state = status.state;
      K.setText(badge, L.states[status.state] || status.state);
      K.setText(role(row, "reason"), status.reason || "");
      K.setText(role(row, "error"), status.error || "");
      fill(role(row, "timers"), JSON.stringify(status.timers || []), function () {
        return timersNode(status.timers);
      });
    });
  }

  function render(state) {
    if (state.plant_id !== config.plantId) return;
    const grid = document.querySelector("[data-overview]");
    grid.dataset.empty = "false";
    renderConsumption(state);
    renderLimitation(state);
    renderPv(state);
    renderBattery(state);
    renderGrid(state);
    renderInverters(state);
    renderWallboxes(state);
    renderControllers(state);
    statusLines.render(state);
  }

  /* ---- the feed-in limit calculator (INV-4): the limit in the other unit, while typing ---- */

  function setUpCalculator() {
    const form = document.querySelector("[data-settings-form]");
    if (!form) return;
    const output = K.byTestId("limit-calculator");
    const value = form.querySelector('[name="limit_value"]');
    const generatorW = parseFloat(form.dataset.generatorPowerW) || 0;
    if (!output || !value) return;

    function mode() {
      const checked = form.querySelector('[name="limit_mode"]:checked');
      if (checked) return checked.value;
      const select = form.querySelector('select[name="limit_mode"]');
      return select ? select.value : "pct";
    }

    function update() {
      const entered = parseFloat(String(value.value).replace(",", "."));
      if (!K.isNumber(entered) || generatorW <= 0) {
        K.setText(output, "");
        return;
      }
      if (mode() === "pct") {
        K.setText(output, "= " + K.formatPower((generatorW * Math.min(entered, 100)) / 100));
      } else {
        K.setText(output, "= " + formatPct((100 * Math.min(entered, generatorW)) / generatorW) + " " + L.ofGenerator);
      }
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  }

  setUpCalculator();
  const initial = K.readJson("initial-state");
  if (initial) render(initial);
  K.connectLive(config, labels, render);
})();
