// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  var AUTO_DISMISS_MS = 6000;

  function dismiss(message) {
    message.classList.add("is-leaving");
    window.setTimeout(function () { message.remove(); }, 200);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss='message']");
    if (button) {
      dismiss(button.closest(".message"));
    }
  });

  // Success toasts fade on their own; errors and warnings stay until the reader closes them.
  function scheduleDismissals(root) {
    root.querySelectorAll(".message.success:not([data-scheduled])").forEach(function (message) {
      message.setAttribute("data-scheduled", "");
      window.setTimeout(function () { dismiss(message); }, AUTO_DISMISS_MS);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { scheduleDismissals(document); });
  document.addEventListener("htmx:afterSettle", function (event) { scheduleDismissals(event.target); });

  // Escape closes the mobile menu, as it would a dialog.
  document.addEventListener("keydown", function (event) {
    var toggle = document.getElementById("nav-toggle");
    if (event.key === "Escape" && toggle && toggle.checked) {
      toggle.checked = false;
    }
  });
})();
