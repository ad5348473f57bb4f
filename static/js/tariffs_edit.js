/*
 * Working-price editor (TAR-1): select days and hours on the 7 x 24 timetable (drag across it,
 * or click a day or an hour heading for the whole row or column), then assign a working price.
 * The grid travels in the hidden "grid" field: seven ";"-separated days of 24 price indexes.
 */
(function () {
  "use strict";

  const form = document.querySelector("[data-tariff-editor]");
  if (!form) return;
  const config = JSON.parse(document.getElementById("tariff-editor-config").textContent);
  const labels = JSON.parse(document.getElementById("tariff-editor-labels").textContent);
  const table = form.querySelector("[data-price-grid]");
  const field = form.querySelector("input[name=grid]");
  const rowsList = form.querySelector("[data-price-rows]");
  const countLabel = form.querySelector("[data-selection-count]");
  const cells = Array.from(table.querySelectorAll("td[data-day]"));
  const selected = new Set();
  let grid = parseGrid(field.value || config.grid);
  let drag = null;

  function parseGrid(text) {
    const days = (text || "").split(";").map(function (day) {
      return day.split(",").map(Number);
    });
    if (days.length !== 7 || days.some(function (d) { return d.length !== 24 || d.some(isNaN); })) {
      return Array.from({ length: 7 }, function () { return new Array(24).fill(0); });
    }
    return days;
  }

  function key(day, hour) {
    return day + "," + hour;
  }

  function priceRows() {
    return Array.from(rowsList.querySelectorAll("[data-price-row]"));
  }

  function colour(index) {
    return config.colours[index % config.colours.length];
  }

  function render() {
    const rows = priceRows();
    cells.forEach(function (cell) {
      const day = Number(cell.dataset.day);
      const hour = Number(cell.dataset.hour);
      const index = grid[day][hour];
      const row = rows[index];
      cell.style.background = colour(index);
      cell.dataset.index = String(index);
      cell.classList.toggle("is-selected", selected.has(key(day, hour)));
      if (row) {
        cell.title = row.querySelector("[name=price_name]").value + " " + row.querySelector("[name=price_value]").value;
      }
    });
    field.value = grid.map(function (day) { return day.join(","); }).join(";");
    countLabel.textContent = selected.size ? selected.size + " h" : "";
  }

  function setRect(from, to, on, base) {
    selected.clear();
    base.forEach(function (k) { selected.add(k); });
    const d0 = Math.min(from[0], to[0]), d1 = Math.max(from[0], to[0]);
    const h0 = Math.min(from[1], to[1]), h1 = Math.max(from[1], to[1]);
    for (let d = d0; d <= d1; d++) {
      for (let h = h0; h <= h1; h++) {
        if (on) selected.add(key(d, h));
        else selected.delete(key(d, h));
      }
    }
    render();
  }

  function position(cell) {
    return [Number(cell.dataset.day), Number(cell.dataset.hour)];
  }

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
  document.addEventListener("pointerup", function () {
    drag = null;
  });

  function toggleMany(keys) {
    const allOn = keys.every(function (k) { return selected.has(k); });
    keys.forEach(function (k) {
      if (allOn) selected.delete(k);
      else selected.add(k);
    });
    render();
  }

  table.querySelectorAll("[data-day-head]").forEach(function (head) {
    head.addEventListener("click", function () {
      const day = Number(head.dataset.dayHead);
      toggleMany(Array.from({ length: 24 }, function (_, h) { return key(day, h); }));
    });
  });
  table.querySelectorAll("[data-hour-head]").forEach(function (head) {
    head.addEventListener("click", function () {
      const hour = Number(head.dataset.hourHead);
      toggleMany(Array.from({ length: 7 }, function (_, d) { return key(d, hour); }));
    });
  });
  table.querySelector("[data-select-all]").addEventListener("click", function () {
    const all = [];
    for (let d = 0; d < 7; d++) for (let h = 0; h < 24; h++) all.push(key(d, h));
    toggleMany(all);
  });
  form.querySelector("[data-clear-selection]").addEventListener("click", function () {
    selected.clear();
    render();
  });

  rowsList.addEventListener("click", function (event) {
    const button = event.target.closest("[data-assign]");
    if (!button) return;
    if (!selected.size) {
      countLabel.textContent = labels.nothingSelected;
      return;
    }
    const index = priceRows().indexOf(button.closest("[data-price-row]"));
    selected.forEach(function (k) {
      const parts = k.split(",").map(Number);
      grid[parts[0]][parts[1]] = index;
    });
    selected.clear();
    render();
  });
  rowsList.addEventListener("input", render);

  form.querySelector("[data-add-price]").addEventListener("click", function () {
    const rows = priceRows();
    const row = rows[rows.length - 1].cloneNode(true);
    const index = rows.length;
    row.querySelector(".chip").style.background = colour(index);
    row.querySelector("[name=price_name]").value = labels.newPrice.replace("%(number)s", String(index + 1));
    row.querySelector("[name=price_value]").value = "";
    rowsList.appendChild(row);
    row.querySelector("[name=price_value]").focus();
  });

  render();
})();
