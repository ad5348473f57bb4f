/* Device > Software update: upload progress, then the install job's progress (as the backup page). */
(function () {
  "use strict";

  const form = document.querySelector("[data-update-upload]");
  if (!form) return;
  const uploadBar = form.querySelector("[data-upload-progress]");
  const bar = form.querySelector("[data-job-progress]");
  const message = form.querySelector("[data-job-message]");

  function errorsOf(body, fallback) {
    const errors = body && body.errors ? body.errors : {};
    const texts = [];
    Object.keys(errors).forEach(function (field) {
      errors[field].forEach(function (e) { texts.push(e.message); });
    });
    return texts.length ? texts.join(" ") : fallback;
  }

  function fail(text, reason) {
    message.dataset.state = "failed";
    message.dataset.reason = reason || "";
    message.textContent = text;
  }

  function follow(job) {
    const url = form.dataset.jobUrl.replace("JOB", job.id);
    const show = function (p) {
      bar.value = p.progress_pct || 0;
      message.dataset.state = p.state;
      if (p.state === "failed") fail(p.message, p.reason);
      else if (p.state === "done") message.textContent = (form.dataset.doneText || "Installed.") + " (" + p.version + ")";
      else { message.textContent = p.message || p.state; setTimeout(poll, 700); }
    };
    const poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(show)
        .catch(function () { setTimeout(poll, 2000); });
    };
    show(job);
  }

  if (form.dataset.runningJob) follow({ id: form.dataset.runningJob, state: "running" });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const input = form.querySelector("input[type=file]");
    const max = Number(form.dataset.maxBytes);
    if (input && input.files.length && input.files[0].size > max) {
      fail("The file is larger than " + max + " bytes.", "too_large");
      return;
    }
    uploadBar.value = 0;
    bar.value = 0;
    message.textContent = "";
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) uploadBar.value = (100 * e.loaded) / e.total;
    });
    xhr.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.statusText }; }
      if (xhr.status === 202) {
        uploadBar.value = 100;
        follow(body);
      } else {
        fail(errorsOf(body, body.detail || xhr.statusText), body.reason);
      }
    });
    xhr.send(new FormData(form));
  });
})();
