/* Device settings: set the time from this browser, restart with progress, factory reset with progress. */
(function () {
  "use strict";

  function errorsOf(body, fallback) {
    const errors = body && body.errors ? body.errors : {};
    const texts = [];
    Object.keys(errors).forEach(function (field) {
      errors[field].forEach(function (e) { texts.push(e.message); });
    });
    return texts.length ? texts.join(" ") : fallback;
  }

  function post(form, onAccepted) {
    const message = form.querySelector("[data-job-message]");
    fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (r) {
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    }).then(function (answer) {
      if (answer.status === 202) onAccepted(answer.body);
      else { message.dataset.state = "failed"; message.textContent = errorsOf(answer.body, String(answer.status)); }
    }).catch(function (e) { message.dataset.state = "failed"; message.textContent = String(e); });
  }

  const setTime = document.querySelector("[data-set-time]");
  if (setTime) {
    setTime.addEventListener("submit", function () {
      setTime.querySelector("[name=browser_time_ms]").value = String(Date.now());
    });
  }

  const restart = document.querySelector("[data-restart]");
  if (restart) {
    const message = restart.querySelector("[data-job-message]");
    const rows = document.querySelector("[data-process-rows]");
    restart.addEventListener("submit", function (event) {
      event.preventDefault();
      const asked = Date.now() / 1000;
      post(restart, function () {
        message.dataset.state = "running";
        message.textContent = restart.dataset.waiting || "Restarting…";
        let seenDown = false;
        const poll = function () {
          fetch(restart.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
            .then(function (r) { return r.json(); })
            .then(function (s) {
              rows.textContent = "";
              (s.processes || []).forEach(function (p) {
                const tr = document.createElement("tr");
                [p.name, p.state].forEach(function (text) {
                  const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
                });
                rows.appendChild(tr);
              });
              const all = (s.processes || []).filter(function (p) { return p.name !== "redis"; });
              const fresh = all.length && all.every(function (p) { return p.state === "RUNNING" && p.started >= asked - 1; });
              if (fresh || (seenDown && all.length && all.every(function (p) { return p.state === "RUNNING"; }))) {
                message.dataset.state = "done";
                message.textContent = "✓ " + (restart.dataset.done || "Every process runs again.");
              } else {
                setTimeout(poll, 1000);
              }
            })
            .catch(function () { seenDown = true; setTimeout(poll, 1000); });
        };
        setTimeout(poll, 1000);
      });
    });
  }

  const reset = document.querySelector("[data-reset]");
  if (reset) {
    const bar = reset.querySelector("[data-job-progress]");
    const message = reset.querySelector("[data-job-message]");
    reset.addEventListener("submit", function (event) {
      event.preventDefault();
      post(reset, function (job) {
        const url = reset.dataset.jobUrl.replace("JOB", job.id);
        const show = function (p) {
          bar.value = p.progress_pct || 0;
          message.dataset.state = p.state;
          if (p.state === "done") {
            message.textContent = "";
            const link = document.createElement("a");
            link.href = reset.dataset.loginUrl;
            link.textContent = reset.dataset.doneText || "Done. Log in with the new initial password shown on the device's console.";
            message.appendChild(link);
          } else if (p.state === "failed") {
            message.textContent = p.message;
          } else {
            message.textContent = p.message || p.state;
            setTimeout(poll, 700);
          }
        };
        const poll = function () {
          fetch(url, { headers: { Accept: "application/json" } })
            .then(function (r) { return r.json(); }).then(show)
            .catch(function () { setTimeout(poll, 2000); });
        };
        show(job);
      });
    });
  }
})();
