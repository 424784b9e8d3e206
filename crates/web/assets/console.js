// The console's little JavaScript: every page works without it. It opens dialogs that
// would otherwise be pages of their own, and counts down disabled buttons.
"use strict";
(function () {
  // <a data-dialog="ID" href="fallback">: opens <dialog id=ID> instead of following the link.
  document.querySelectorAll("[data-dialog]").forEach(function (opener) {
    var dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    opener.addEventListener("click", function (event) {
      event.preventDefault();
      var menu = opener.closest("details");
      if (menu) menu.open = false;
      dialog.showModal();
      var first = dialog.querySelector("input:not([type=hidden]), select, button");
      if (first) first.focus();
    });
  });
  // A dialog the server rendered open (an error to show, or the no-JS fallback) becomes modal.
  document.querySelectorAll("dialog[open]").forEach(function (dialog) {
    if (typeof dialog.showModal !== "function") return;
    dialog.close();
    dialog.showModal();
  });
  document.querySelectorAll("[data-close-dialog]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var dialog = button.closest("dialog");
      if (dialog) { event.preventDefault(); dialog.close(); }
    });
  });
  // <button data-countdown="SECONDS" data-label="Send a reset link">: disabled while
  // counting down, showing "Send a reset link (29s)". The server renders the seconds left,
  // so a reload continues where it was.
  document.querySelectorAll("[data-countdown]").forEach(function (button) {
    var left = parseInt(button.getAttribute("data-countdown"), 10);
    var label = button.getAttribute("data-label");
    if (!(left > 0) || !label) return;
    var ends = Date.now() + left * 1000;
    function tick() {
      var s = Math.ceil((ends - Date.now()) / 1000);
      if (s <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.disabled = true;
      button.textContent = label + " (" + s + "s)";
      setTimeout(tick, 250);
    }
    tick();
  });
  // <form data-autosubmit>: the filters of a list apply as they change.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
})();
