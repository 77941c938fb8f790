// Agents: drag a step by its handle to reorder the steps. On drop the page posts the same form
// the Move up / Move down buttons do (every step's id, in the new order); those buttons are the
// keyboard's way, and the way without this script. Loaded from 'self' (no inline script).
(function () {
  "use strict";
  var dragged = null;
  var before = null;

  function list() { return document.querySelector("[data-reorder]"); }
  function order(ol) {
    return Array.prototype.map.call(ol.querySelectorAll("li[data-step-id]"), function (li) {
      return li.getAttribute("data-step-id");
    });
  }

  document.addEventListener("dragstart", function (event) {
    var handle = event.target.closest && event.target.closest(".handle");
    var ol = list();
    if (!handle || !ol || !ol.contains(handle)) { return; }
    dragged = handle.closest("li[data-step-id]");
    before = order(ol).join(",");
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.getAttribute("data-step-id"));
    event.dataTransfer.setDragImage(dragged, 16, 16);
  });

  document.addEventListener("dragover", function (event) {
    if (!dragged) { return; }
    var over = event.target.closest && event.target.closest("li[data-step-id]");
    if (!over || over === dragged || over.parentNode !== dragged.parentNode) { return; }
    event.preventDefault();
    var box = over.getBoundingClientRect();
    var after = event.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });

  document.addEventListener("drop", function (event) { if (dragged) { event.preventDefault(); } });

  document.addEventListener("dragend", function () {
    if (!dragged) { return; }
    var ol = dragged.parentNode;
    dragged.classList.remove("dragging");
    dragged = null;
    var now = order(ol);
    if (now.join(",") === before) { return; }
    var form = document.getElementById(ol.getAttribute("data-reorder"));
    form.querySelectorAll("input[name=step_ids]").forEach(function (input) { input.remove(); });
    now.forEach(function (id) {
      var input = document.createElement("input");
      input.type = "hidden"; input.name = "step_ids"; input.value = id;
      form.appendChild(input);
    });
    var status = document.getElementById("announce");
    if (status) { status.textContent = "Saving the new order…"; }
    form.requestSubmit();
  });
})();
