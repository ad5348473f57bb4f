/* Every page: the side menu toggle and the plant switcher. */
(function () {
  "use strict";

  /*
   * The menu is open by default on wide screens and closed on narrow ones; the toggle inverts
   * that default, so aria-expanded is read back from what the CSS actually shows.
   */
  const toggle = document.querySelector("[data-menu-toggle]");
  const menu = document.getElementById("app-menu");
  if (toggle && menu) {
    const sync = function () {
      toggle.setAttribute("aria-expanded", String(window.getComputedStyle(menu).display !== "none"));
    };
    toggle.addEventListener("click", function () {
      document.body.classList.toggle("menu-toggled");
      sync();
    });
    window.addEventListener("resize", sync);
    sync();
  }

  /* Choosing another plant reloads the page for it; the choice is remembered in the session. */
  const switcher = document.querySelector("[data-plant-switcher]");
  if (switcher) {
    switcher.addEventListener("change", function () {
      switcher.submit();
    });
  }
})();
