// renewflow console: the little the server cannot do. Loaded from 'self' (no inline script).
(function () {
  "use strict";
  var root = document.documentElement;
  var stored = null;
  try { stored = window.localStorage.getItem("rf-theme"); } catch (e) { stored = null; }
  if (stored === "light" || stored === "dark") { root.setAttribute("data-theme", stored); }

  function currentTheme() {
    var set = root.getAttribute("data-theme");
    if (set) { return set; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function focusMain(target) {
    // after a partial update, keep the keyboard where the user is: an [autofocus] field, a
    // heading of the new content, or the region itself
    var el = (target || document).querySelector("[autofocus]") || (target || document).querySelector("h1, h2");
    if (el) {
      if (!el.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(el.tagName)) { el.setAttribute("tabindex", "-1"); }
      el.focus({ preventScroll: false });
    }
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var next = currentTheme() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { window.localStorage.setItem("rf-theme", next); } catch (e) { /* private mode */ }
      return;
    }
    if (event.target.closest("[data-shortcuts]")) {
      document.getElementById("shortcuts").showModal();
      return;
    }
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) { dialog.showModal(); }
    }
  });

  // a form submits once: its submit buttons wait for the answer
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("method") === "dialog") { return; }
    var confirmText = form.getAttribute("data-confirm");
    if (confirmText && !window.confirm(confirmText)) { event.preventDefault(); return; }
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) { return; }  // htmx disables them
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
        b.disabled = true; b.setAttribute("aria-busy", "true");
      });
    }, 0);
  });

  var pending = null;
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toUpperCase();
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || event.target.isContentEditable) { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "?") { document.getElementById("shortcuts").showModal(); event.preventDefault(); return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { search.focus(); event.preventDefault(); }
      return;
    }
    if (pending === "g") {
      var go = { t: "/today", b: "/book", a: "/tasks" }[event.key];
      pending = null;
      if (go) { window.location.assign(go); event.preventDefault(); }
      return;
    }
    if (event.key === "g") { pending = "g"; window.setTimeout(function () { pending = null; }, 1200); }
  });

  document.addEventListener("htmx:afterSwap", function (event) { focusMain(event.detail.target); });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.tagName === "FORM") { el.setAttribute("aria-busy", "true"); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.tagName === "FORM") { el.removeAttribute("aria-busy"); }
  });
})();
