/* The copy button of a newly created access token: copies the secret shown next to it. */
(function () {
  "use strict";
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.addEventListener("click", function () {
      const source = document.getElementById(button.getAttribute("data-copy-target"));
      if (!source) {
        return;
      }
      const text = source.textContent.trim();
      const done = function () {
        button.textContent = button.getAttribute("data-copied-text") || button.textContent;
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
        return;
      }
      /* Plain HTTP on the local network: no Clipboard API, select the text for Ctrl-C instead. */
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (document.execCommand && document.execCommand("copy")) {
        done();
      }
    });
  });
})();
