/* Device > Backup: create (job progress, then the download) and restore (upload progress, then job progress). */
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

  function follow(form, job, onDone) {
    const bar = form.querySelector("[data-job-progress]");
    const message = form.querySelector("[data-job-message]");
    const url = form.dataset.jobUrl.replace("JOB", job.id);
    const show = function (p) {
      bar.value = p.progress_pct || 0;
      message.dataset.state = p.state;
      message.textContent = p.state === "failed" ? p.message : (p.state === "done" ? "" : (p.message || p.state));
      if (p.state === "done") onDone(p);
      else if (p.state !== "failed") setTimeout(poll, 700);
    };
    const poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(show)
        .catch(function () { setTimeout(poll, 2000); });
    };
    show(job);
  }

  function send(form, onStart, uploadBar) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    if (uploadBar) {
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) uploadBar.value = (100 * e.loaded) / e.total;
      });
    }
    xhr.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { detail: xhr.statusText }; }
      const message = form.querySelector("[data-job-message]");
      if (xhr.status === 202) {
        if (uploadBar) uploadBar.value = 100;
        onStart(body);
      } else {
        message.dataset.state = "failed";
        message.textContent = errorsOf(body, body.detail || xhr.statusText);
      }
    });
    xhr.send(new FormData(form));
  }

  const createForm = document.querySelector("[data-backup-create]");
  if (createForm) {
    createForm.addEventListener("submit", function (event) {
      event.preventDefault();
      send(createForm, function (job) {
        follow(createForm, job, function (p) {
          const message = createForm.querySelector("[data-job-message]");
          const link = document.createElement("a");
          link.href = createForm.dataset.downloadUrl.replace("NAME", encodeURIComponent(p.file));
          link.textContent = p.file;
          link.dataset.testid = "backup-download";
          message.textContent = "";
          message.appendChild(link);
          window.location.href = link.href;
        });
      });
    });
  }

  const restoreForm = document.querySelector("[data-backup-restore]");
  if (restoreForm) {
    const uploadBar = restoreForm.querySelector("[data-upload-progress]");
    restoreForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const input = restoreForm.querySelector("input[type=file]");
      const message = restoreForm.querySelector("[data-job-message]");
      const max = Number(restoreForm.dataset.maxBytes);
      if (input && input.files.length && input.files[0].size > max) {
        message.dataset.state = "failed";
        message.textContent = input.dataset.tooLarge || ("The file is larger than " + max + " bytes.");
        return;
      }
      send(restoreForm, function (job) {
        follow(restoreForm, job, function () {
          message.textContent = restoreForm.dataset.doneText || "Restored.";
        });
      }, uploadBar);
    });
  }
})();
