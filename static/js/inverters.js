/* Inverters page: "Read device info again" sends an info job to the worker, then polls the
 * inverter's info until the job is done or failed and fills in serial, hardware and software
 * (the page works without this script: the form posts and the list shows the job's state). */
(function () {
  "use strict";
  const textsNode = document.getElementById("inverter-info-texts");
  const texts = textsNode ? JSON.parse(textsNode.textContent) : {};
  const csrf = function (form) {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  };

  const show = function (form, answer) {
    const details = form.closest("details");
    const status = details.querySelector("[data-info-job]");
    const bar = form.querySelector("[data-info-progress]");
    const job = answer.job || { state: "queued", progress_pct: 0, message: "" };
    status.dataset.state = job.state;
    status.textContent = job.state === "failed" ? texts.failed + " " + job.message : texts[job.state] || "";
    bar.hidden = job.state === "done" || job.state === "failed";
    bar.value = job.progress_pct || 0;
    if (job.state === "done") {
      const info = answer.info || {};
      const id = form.dataset.inverter;
      const fill = function (name, value) {
        const cell = document.querySelector("[data-testid=inverter-" + name + "-" + id + "]");
        if (cell) cell.textContent = value || "–";
      };
      fill("serial", info.serial);
      fill("hardware", info.hardware);
      fill("software", info.software);
      fill("product", [info.vendor, info.product].filter(Boolean).join(" "));
      const zone = document.body.dataset.timeZone || undefined;
      const when = info.detected_at ? new Date(info.detected_at) : null;
      fill("detected", when ? when.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short", timeZone: zone }) : "");
      const pending = document.querySelector("[data-testid=inverter-info-pending-" + id + "]");
      if (pending) pending.hidden = true;
    }
    return job.state === "done" || job.state === "failed";
  };

  const poll = function (form) {
    fetch(form.action, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (answer) { if (!show(form, answer)) setTimeout(function () { poll(form); }, 1000); })
      .catch(function () { setTimeout(function () { poll(form); }, 3000); });
  };

  document.querySelectorAll("[data-info-form]").forEach(function (form) {
    const status = form.closest("details").querySelector("[data-info-job]");
    if (status.dataset.state === "queued" || status.dataset.state === "running") poll(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = form.querySelector("button");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRFToken": csrf(form) },
        credentials: "same-origin",
      })
        .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
        .then(function (answer) {
          button.disabled = false;
          if (answer.status !== 202) {
            status.dataset.state = "failed";
            status.textContent = answer.body.error || answer.body.detail || String(answer.status);
            return;
          }
          show(form, answer.body);
          poll(form);
        })
        .catch(function () { button.disabled = false; });
    });
  });
})();
